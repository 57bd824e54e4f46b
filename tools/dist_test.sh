#!/usr/bin/env bash
# Distributed testing with torchrun, as mmdet's dist_test.sh:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS_PER_NODE [extra tools/test.py args]
# Several machines: NNODES, NODE_RANK, MASTER_ADDR, PORT as in tools/dist_train.sh.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" --nproc_per_node="$GPUS" \
    "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
