#!/bin/bash
# Train course/scripts/train_ddp.py with DistributedDataParallel on a SLURM cluster.
#
# One node with several GPUs: keep --nodes=1. Several nodes: raise --nodes; nothing else
# changes. Submit from the repository root with:  sbatch course/scripts/slurm_ddp.sh
# The partition, account and module names differ between clusters: ask your local docs.

#SBATCH --job-name=train-ddp
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=01:00:00
#SBATCH --output=%x-%j.out
#SBATCH --requeue
##SBATCH --partition=gpu
##SBATCH --account=my-project

set -euo pipefail

# module load python/3.12 cuda/12.4      # whatever your cluster needs
# source "$HOME/venvs/practicaltorch/bin/activate"
# export PRACTICALTORCH_DATA=/shared/datasets   # where MNIST/raw lives (run `practicaltorch fetch` once)

GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-4}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=29500
export OMP_NUM_THREADS=$(( SLURM_CPUS_PER_TASK / GPUS_PER_NODE ))

echo "job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES node(s) x $GPUS_PER_NODE GPU(s), rendezvous at $MASTER_ADDR:$MASTER_PORT"

srun torchrun \
    --nnodes="$SLURM_JOB_NUM_NODES" \
    --nproc-per-node="$GPUS_PER_NODE" \
    --rdzv-id="$SLURM_JOB_ID" \
    --rdzv-backend=c10d \
    --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" \
    course/scripts/train_ddp.py \
        --out "runs/train-ddp" \
        --device cuda \
        --epochs 10 \
        --train-size 55000 \
        --valid-size 5000 \
        --batch-size 512 \
        --threads "$OMP_NUM_THREADS" \
        --amp \
        --resume
