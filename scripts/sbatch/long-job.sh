#!/bin/bash
# A long job checkpointed every 30 minutes.  If it fails or is requeued
# (--requeue: a node failure, scontrol requeue), its rerun continues each
# srun step from the step's newest complete checkpoint instead of starting
# over.  Checkpoints: the site's dir= (plugstack.conf), or --checkpoint-dir.
#SBATCH --job-name=long
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --time=2-00:00:00
#SBATCH --checkpoint=30m
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=long-%j.out

echo "run ${SLURM_RESTART_COUNT:-0} of job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
srun ./my_simulation input.dat
