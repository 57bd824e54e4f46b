#!/usr/bin/env bash
# Distributed training on one machine with torchrun, as mmdet's dist_train.sh:
#   bash tools/dist_train.sh CONFIG NUM_GPUS [extra tools/train.py args]
set -euo pipefail
CONFIG=$1
GPUS=$2
PORT=${PORT:-29500}
torchrun --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
