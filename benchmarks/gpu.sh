#!/usr/bin/env bash
# GPU checks on a machine with one NVIDIA GPU and no network.
#
# Usage: benchmarks/gpu.sh OUT_DIR
#
# Expects a Python (python3 on PATH, or $PYTHON) that already has jax (at least the
# floor in pyproject.toml) with its CUDA plugin, flax, equinox, optax,
# orbax-checkpoint, torch and pytest. It
# installs this checkout without dependencies or network, records the versions it
# found, then runs (each step time-boxed, all within 8 minutes):
#   1. the quick throughput benchmark (benchmarks/harness.py --quick) on the GPU;
#   2. the tree depth sweep (benchmarks/tree_depth.py, new tree.init and one
#      jax.nn jit, 4/16/64/256 layers, a fresh process per point) on the GPU;
#   3. the jax.nn parity tests (the GPU eager path's bits against jax.nn's jit on
#      the GPU), the context-matrix tests (tests/test_contexts.py where present)
#      and the tree tests on the GPU; mesh cases keep using the 8 CPU devices
#      conftest.py makes.
# Everything it produces goes to OUT_DIR: versions.txt, nvidia-smi.txt, bench/,
# tree_depth/, pytest-*.txt and summary.txt (one line per step with its exit code).
# A failing step is recorded and the next one still runs; the script's exit code
# is the number of failed steps.
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
cd "$ROOT"
: >"$OUT/summary.txt"
FAILED=0

step() {  # step NAME SECONDS CMD...: run CMD under a time limit, log its exit code
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - start)) limit=$limit" | tee -a "$OUT/summary.txt"
  [[ $rc -eq 0 ]] || FAILED=$((FAILED + 1))
}

step install 60 "$PYTHON" -m pip install --no-deps --no-build-isolation --no-index -e .
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  "$PYTHON" - <<'PY'
import importlib, platform
print("python:", platform.python_version())
for name in ("jax", "jaxlib", "flax", "equinox", "optax", "orbax.checkpoint", "torch", "pytest"):
    try:
        print(f"{name}: {importlib.import_module(name).__version__}")
    except Exception as error:  # record what is missing, do not stop
        print(f"{name}: missing ({type(error).__name__}: {error})")
try:
    import jax
    print("devices:", jax.devices())
except Exception as error:
    print("devices: unavailable", error)
PY
} >"$OUT/versions.txt" 2>&1
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

step bench 150 "$PYTHON" benchmarks/harness.py --quick --out "$OUT/bench" --tag gpu
step tree_depth 150 "$PYTHON" benchmarks/tree_depth.py --layers 4,16,64,256 \
  --impls "tree.init,jax.nn jit" --timeout 60 --out "$OUT/tree_depth"
TESTS=(tests/test_parity.py tests/test_tree.py)
[[ -f tests/test_contexts.py ]] && TESTS=(tests/test_contexts.py "${TESTS[@]}")
step pytest 150 "$PYTHON" -m pytest -p no:xdist -q -m "not slow" "${TESTS[@]}" \
  --junitxml="$OUT/pytest.xml"
cp "$OUT/pytest.log" "$OUT/pytest-tail.txt" 2>/dev/null || true

echo "failed steps: $FAILED" | tee -a "$OUT/summary.txt"
exit "$FAILED"
