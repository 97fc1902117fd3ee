#!/usr/bin/env bash
# Session 13 call 3: numerics/large tests and forward long tests of this tree from t = 0;
# beside them the selected forward sweep (normalize_partials / always_mask variants), then
# the SPEC §6 harness at 64K, G = 4.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
budget=${BUDGET:-480}
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_numerics.py tests/test_large.py -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1 &
t tests/test_kernels.py -k "test_forward_kernels_long_sequences and 1000" > "$OUT/pytest_fwd_long_1000.log" 2>&1 &
t tests/test_kernels.py -k "test_forward_kernels_long_sequences and (4099 or 16384)" > "$OUT/pytest_fwd_long_4099.log" 2>&1 &
for i in 0 1 2 3; do timeout 200 python3 benchmarks/sweep_selected.py --warm --shard $i/4 > /dev/null 2>&1 & pids="${pids:-} $!"; done
wait $pids
echo "warm done at $SECONDS s"
timeout 100 python3 benchmarks/sweep_selected.py > "$OUT/sweep_selected.log" 2>&1
cat "$OUT/sweep_selected.log"
echo "sweep done at $SECONDS s"
timeout $((budget - 15 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 4 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"
tail -n 30 "$OUT/bench/latest.md" 2>/dev/null || tail -n 30 "$OUT/bench.log"
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
grep -h -c PASSED "$OUT"/pytest_*.log
echo "all done at $SECONDS s"
