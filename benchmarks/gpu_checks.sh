#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one run that fits a short loan of a machine: the GPU tests,
# the render benchmark at 224 px (CUDA graphs, then compiled), where its time goes, and long paths.
# Each step has its own time limit (about 10 minutes in all), so a slow one (a cold compilation)
# cannot starve the others, and its output is kept in OUT_DIR/<step>.log. Name steps to run only
# those: tests, render, render_compiled, profile, long_paths.
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR [STEP ...]]   # with the project and its plugins installed (README)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-checks}"
shift $(($# > 0))
wanted=" ${*:-tests render render_compiled profile long_paths} "
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null ||
  { echo "needs a CUDA GPU visible to this python's torch" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/machine.log"
python -c "import torch; print('torch', torch.__version__)" | tee -a "$out/machine.log"

failed=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  [[ "$wanted" == *" $name "* ]] || return 0
  echo "== $name (at most ${limit} s): $*"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || { echo "== $name: exit $status"; failed=1; }
}

step tests 180 python -m pytest -q -p no:cacheprovider -m gpu
step render 60 python benchmarks/render.py --device cuda --sizes 224 --reps 30 --no-diffvg
step render_compiled 300 python benchmarks/render.py --device cuda --sizes 224 --reps 30 --no-diffvg --compile
step profile 60 python benchmarks/profile_render.py --device cuda
step long_paths 60 python benchmarks/mixed_lengths.py --device cuda --static --long 64 --repeats 3
exit "$failed"
