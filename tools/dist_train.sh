#!/usr/bin/env bash
# Distributed training with torchrun, as mmdet's dist_train.sh:
#   bash tools/dist_train.sh CONFIG GPUS_PER_NODE [extra tools/train.py args]
# Several machines: run the same command on every node with
#   NNODES=2 NODE_RANK=0|1 MASTER_ADDR=<node 0's address> PORT=29500
# (defaults: 1 node, rank 0, 127.0.0.1, 29500). Without CUDA, tools/train.py uses gloo.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" --nproc_per_node="$GPUS" \
    "$here/train.py" "$CONFIG" --launcher pytorch "${@:3}"
