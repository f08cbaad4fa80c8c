#!/bin/bash
# A job for a preemptible (low-priority) partition.  When a higher-priority
# job preempts it, Slurm sends SIGTERM: crest takes a final checkpoint of
# every task and their children, holds them stopped until the grace time
# ends, and Slurm requeues the job; the rerun continues from that
# checkpoint.  --checkpoint=0: no periodic checkpoints, only at preemption
# (and on demand: crest checkpoint --job JOBID, or scancel --signal=USR2).
# The partition's GraceTime must exceed the time a checkpoint takes.
#SBATCH --job-name=scavenger
#SBATCH --partition=low
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --checkpoint=0
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=scavenger-%j.out

echo "run ${SLURM_RESTART_COUNT:-0} of job $SLURM_JOB_ID"
srun python3 train.py --epochs 500
