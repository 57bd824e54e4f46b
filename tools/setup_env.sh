#!/usr/bin/env bash
# Idempotent environment bootstrap for damex_mmdet.
#
# Creates ./.venv (or $DAMEX_VENV) with torch 2.13.0 (CPU file), mmengine 0.10.7,
# mmcv 2.1.0 built from source with ops, mmdet 3.3.0, the test tools and this
# package in editable mode. Each step is skipped when already satisfied, so a
# second run takes seconds.
#
# Usage: bash tools/setup_env.sh   (prints the venv path on the last line)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DAMEX_VENV:-$root/.venv}"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

log() { echo "[setup_env] $*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }

has() { "$py" - "$@" <<'PY' 2>/dev/null
import importlib.metadata as md, sys
name, version = sys.argv[1], sys.argv[2]
try:
    installed = md.version(name)
except md.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if version in ('*', installed, installed.split('+')[0]) else 1)
PY
}

if ! has torch 2.13.0; then
  log "installing torch==2.13.0 (CPU)"
  pip install "torch==2.13.0"
fi
if ! has mmengine 0.10.7; then
  log "installing mmengine 0.10.7"
  pip install "mmengine==0.10.7"
fi
if ! has mmcv 2.1.0 || ! "$py" -c 'import mmcv.ops' >/dev/null 2>&1; then
  log "installing setuptools<70 (mmcv's build imports pkg_resources)"
  pip install "setuptools<70" wheel
  log "building mmcv 2.1.0 with ops from source (about 7 min on 2 cores the first time; cached afterwards)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" pip install --no-build-isolation "mmcv==2.1.0"
fi
if ! has mmdet 3.3.0; then
  log "installing mmdet 3.3.0"
  pip install "mmdet==3.3.0"
fi
if ! has scipy '*' || ! has pycocotools '*' || ! has pytest '*' || ! has matplotlib '*' \
    || ! has flake8 7.5.0; then
  log "installing numpy, scipy, pycocotools, matplotlib, pytest, flake8"
  pip install -r "$root/requirements/tests.txt" numpy scipy pycocotools matplotlib
fi
if ! has openmim 0.3.9; then
  log "installing openmim 0.3.9 (the 'mim' command)"
  pip install "openmim==0.3.9"
fi
# checked from / so that the repository folder itself is not on sys.path
if ! (cd / && "$py" -c 'import damex_mmdet, sys; sys.exit(0 if damex_mmdet.__file__.startswith(sys.argv[1]) else 1)' "$root") >/dev/null 2>&1; then
  log "installing damex_mmdet in editable mode"
  pip install --no-build-isolation --no-deps -e "$root"
fi
log "environment ready: $venv"
echo "$venv"
