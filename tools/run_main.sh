#!/usr/bin/env bash
# The main job on the built-in benchmark (bootstraps .venv first; idempotent).
# Extra arguments go to tools/run_default_benchmark.py, e.g. `--compare`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$root/tools/setup_env.sh" | tail -n 1)"
cd "$root"
exec "$venv/bin/python" tools/run_default_benchmark.py "$@"
