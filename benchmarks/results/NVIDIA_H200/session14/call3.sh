#!/usr/bin/env bash
# Session 14 call 3: timing alone first (selected backward: new default vs 1 / 2 / 3 stages at
# G = 1 / 4 / 16; the SPEC §6 harness at 64K, G = 4), then GPU tests in parallel with what is
# left: backward long at G = 16 (2 stages), the CUDA compile suite (AOTI deselected: it
# segfaults on this image), the hypothesis backward oracle.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
budget=${BUDGET:-500}
timeout 200 python3 benchmarks/sweep_selected.py --backward --variants 4 > "$OUT/sweep_backward.log" 2>&1; cat "$OUT/sweep_backward.log"
echo "sweep done at $SECONDS s"
timeout 220 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"; tail -n 30 "$OUT/bench/latest.md" 2>/dev/null || tail -n 30 "$OUT/bench.log"
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_kernels.py -k "test_backward_kernels_long_sequences and 16-" > "$OUT/pytest_bwd_long_g16.log" 2>&1 &
t tests/test_compile.py -k "export_cuda or host_sync or cuda_graphs" > "$OUT/pytest_compile_cuda.log" 2>&1 &
t tests/test_kernels.py -k "test_backward_kernels_match_oracle" > "$OUT/pytest_bwd_oracle.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "PASSED|FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-160
echo "all done at $SECONDS s"
