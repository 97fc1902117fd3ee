#!/usr/bin/env bash
# One lease's worth of GPU work, logs under $OUT:
#   bash benchmarks/gpu_session.sh tests     # cuda/triton test suite (dev profile) + main job
#   bash benchmarks/gpu_session.sh bench     # benchmarks/run.py --preset quick
#   bash benchmarks/gpu_session.sh all       # the whole test suite too
# Wheels missing on the GPU image (expecttest, fla-core) travel in .whl/ (README: GPU runs).
set -u
OUT=${OUT:-/tmp/fsa_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
what=${1:-tests}
if [ "$what" = tests ] || [ "$what" = all ]; then
  HYPOTHESIS_PROFILE=dev timeout 420 python3 -m pytest tests -q -m "triton or cuda" -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu.log" | tail -25
  timeout 120 python3 -m fsa_ops 2>&1 | tee "$OUT/main_job.log"
fi
if [ "$what" = all ]; then
  HYPOTHESIS_PROFILE=ci timeout 400 python3 -m pytest tests -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest_all.log" | tail -8
fi
if [ "$what" = bench ]; then
  timeout 540 python3 benchmarks/run.py --preset quick --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | tail -40
fi
