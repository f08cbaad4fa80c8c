#!/bin/bash
# An Open MPI job over 4 nodes, checkpointed every 30 minutes.  `crest
# mpirun` runs mpirun inside the step (one task per node) and starts its
# daemons as children of the step's tasks, so the whole MPI job is one
# checkpointed step; its rerun after a requeue continues it, on the same
# or on other nodes.  (A plain mpirun of several nodes is refused under
# --checkpoint: docs/slurm.md, "MPI".)
#SBATCH --job-name=mpi
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --time=1-00:00:00
#SBATCH --checkpoint=30m
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=mpi-%j.out

echo "run ${SLURM_RESTART_COUNT:-0} of job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
# 32 ranks per node (the CPUs of each task); shared memory within a node
# and TCP between nodes (InfiniBand is not checkpointed yet)
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp
srun crest mpirun -np 128 ./my_mpi_app input.dat
