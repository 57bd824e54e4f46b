#!/usr/bin/env bash
# Run the whole test suite (bootstraps .venv first; idempotent).
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/test_moe -x`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$root/tools/setup_env.sh" | tail -n 1)"
cd "$root"
# pytest exits 5 when it collects no test: that is a failure here too.
exec "$venv/bin/python" -m pytest "${@:-tests}"
