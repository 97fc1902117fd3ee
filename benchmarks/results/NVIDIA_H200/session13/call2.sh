#!/usr/bin/env bash
# Session 13 call 2: GPU tests of this tree (selected kernels: constant n, mask-free tiles,
# unnormalised partials, scale in ds) in parallel processes from t = 0; beside them, the
# selected fwd/bwd sweeps of this tree and the defaults of baseline.tar (main b7bc85b).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
budget=${BUDGET:-570}
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_kernels.py -k "test_backward_kernels_match_oracle" > "$OUT/pytest_bwd_oracle.log" 2>&1 &
t tests/test_kernels.py -k "test_forward_kernels_match_oracle or split_dot" > "$OUT/pytest_fwd_oracle.log" 2>&1 &
t tests/test_kernels.py -k "test_backward_kernels_long_sequences or packed_long or deterministic or block_index" > "$OUT/pytest_bwd_long.log" 2>&1 &
t tests/test_kernels.py -k "test_forward_kernels_long_sequences and (1000 or 4099)" > "$OUT/pytest_fwd_long.log" 2>&1 &
t tests/test_large.py tests/test_numerics.py -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1 &
base=/tmp/fsa_base; mkdir -p $base && tar -xf baseline.tar -C $base && cp benchmarks/sweep_*.py $base/benchmarks/
in_base() { (cd "$base" && PYTHONPATH=/tmp/site "$@"); }
pids=""
for flag in "" --backward; do
  in_base timeout 200 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="$pids $!"
  timeout 200 python3 benchmarks/sweep_selected.py $flag --warm > /dev/null 2>&1 & pids="$pids $!"
done
wait $pids
echo "warm done at $SECONDS s"
for flag in "" --backward; do
  in_base timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/base_sweep_selected.log" 2>&1
  timeout 100 python3 benchmarks/sweep_selected.py $flag >> "$OUT/sweep_selected.log" 2>&1
done
echo "== base (main b7bc85b)"; cat "$OUT/base_sweep_selected.log"; echo "== this tree"; cat "$OUT/sweep_selected.log"
echo "timing done at $SECONDS s"
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
grep -h -c PASSED "$OUT"/pytest_*.log
echo "all done at $SECONDS s"
