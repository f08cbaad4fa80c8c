#!/bin/bash
# Continue the steps of an earlier job (cancelled, timed out, failed) in a
# new job:  sbatch --restart-from=/scratch/$USER/crest/<old jobid> restart-job.sh
# Each srun step restarts from its folder there (the step key: the same
# command line and shape, or the same --checkpoint-name) and goes on
# checkpointing there.  The steps must have their old shape: as many
# nodes, and tasks per node; the nodes themselves may differ.
#SBATCH --job-name=continue
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --checkpoint=30m
#SBATCH --open-mode=append
#SBATCH --output=continue-%j.out

srun ./my_simulation input.dat
