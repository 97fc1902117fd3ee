#!/usr/bin/env bash
# Session 13 call 1: selected fwd/bwd defaults of this tree (branch next/selected-tile-arith)
# beside baseline.tar (main b7bc85b), one timing process at a time; then GPU test suites.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
base=/tmp/fsa_base; mkdir -p $base && tar -xf baseline.tar -C $base && cp benchmarks/sweep_*.py $base/benchmarks/
in_base() { (cd "$base" && PYTHONPATH=/tmp/site "$@"); }
# start the long hypothesis oracle suites right away (they compile many specializations)
HYPOTHESIS_PROFILE=ci timeout 520 python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "test_forward_kernels_match_oracle or split_dot" > "$OUT/pytest_fwd_oracle.log" 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 520 python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "test_backward_kernels_match_oracle" > "$OUT/pytest_bwd_oracle.log" 2>&1 &
for flag in "" --backward; do
  in_base timeout 200 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="${pids:-} $!"
  timeout 200 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="$pids $!"
done
wait $pids
echo "warm done at $SECONDS s"
for flag in "" --backward; do
  for r in 1 2; do
    in_base timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/base_sweep_selected.log" 2>&1
    timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/sweep_selected.log" 2>&1
  done
done
echo "== base (main)"; cat "$OUT/base_sweep_selected.log"; echo "== branch"; cat "$OUT/sweep_selected.log"
echo "timing done at $SECONDS s"
left=$((${BUDGET:-560} - SECONDS))
HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "test_backward_kernels_long_sequences or packed_long or deterministic or block_index or token_chunk" > "$OUT/pytest_bwd_long.log" 2>&1 &
HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "test_forward_kernels_long_sequences and (4099 or 16384)" > "$OUT/pytest_fwd_long.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
grep -h -c PASSED "$OUT"/pytest_*.log
echo "all done at $SECONDS s"
