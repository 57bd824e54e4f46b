#!/usr/bin/env bash
# Run the tests (bootstraps .venv first; idempotent).
#   bash tools/run_tests.sh               the fast tier: every test not marked `slow`
#   bash tools/run_tests.sh --all         every test, the slow end-to-end runs included (CI)
#   bash tools/run_tests.sh [--all] tests/test_moe -x     extra arguments go to pytest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tier=(-m "not slow")
if [ "${1:-}" = "--all" ]; then
  shift
  tier=(-m "slow or not slow")
fi
venv="$(bash "$root/tools/setup_env.sh" | tail -n 1)"
cd "$root"
# pytest exits 5 when it collects no test: that is a failure here too.
exec "$venv/bin/python" -m pytest "${tier[@]}" "${@:-tests}"
