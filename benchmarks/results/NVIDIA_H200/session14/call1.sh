#!/usr/bin/env bash
# Session 14 call 1: timing first, one timing process at a time. Sweeps of main (all forward
# and backward variants, incl. num_stages 2/3 and 128-row tiles) and the defaults of branch
# next/pos-offset (scratch/branch.tar) interleaved with main's; per-kernel profile at G = 4.
# Then GPU tests that never ran on main's kernels: boundary, deterministic, packed long.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
br=/tmp/fsa_branch; mkdir -p $br && tar -xf scratch/branch.tar -C $br && cp benchmarks/sweep_*.py $br/benchmarks/
in_br() { (cd "$br" && PYTHONPATH=/tmp/site "$@"); }
pids=""
for i in 0 1 2 3; do timeout 240 python3 benchmarks/sweep_selected.py --warm --shard $i/4 > "$OUT/warm_f$i.log" 2>&1 & pids="$pids $!"; done
for i in 0 1 2; do timeout 240 python3 benchmarks/sweep_selected.py --backward --warm --shard $i/3 > "$OUT/warm_b$i.log" 2>&1 & pids="$pids $!"; done
for flag in "" --backward; do in_br timeout 240 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="$pids $!"; done
timeout 240 python3 benchmarks/profile_layer.py --seqlen 4096 --groups 4 --op selected > /dev/null 2>&1 & pids="$pids $!"
wait $pids
echo "warm done at $SECONDS s"; grep -h Error "$OUT"/warm_*.log | cut -c1-200
for flag in "" --backward; do
  for r in 1 2; do
    in_br timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/branch_sweep.log" 2>&1
    timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/main_defaults.log" 2>&1
  done
done
echo "== branch next/pos-offset defaults"; cat "$OUT/branch_sweep.log"; echo "== main defaults"; cat "$OUT/main_defaults.log"
echo "a/b done at $SECONDS s"
timeout 150 python3 benchmarks/sweep_selected.py > "$OUT/sweep_forward.log" 2>&1; cat "$OUT/sweep_forward.log"
echo "fwd sweep done at $SECONDS s"
timeout 150 python3 benchmarks/sweep_selected.py --backward > "$OUT/sweep_backward.log" 2>&1; cat "$OUT/sweep_backward.log"
echo "bwd sweep done at $SECONDS s"
timeout 90 python3 benchmarks/profile_layer.py --seqlen 65536 --groups 4 --op selected > "$OUT/profile_selected.log" 2>&1; cat "$OUT/profile_selected.log"
echo "timing done at $SECONDS s"
left=$((${BUDGET:-540} - SECONDS))
t() { HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_kernels.py -k "mask_boundaries or deterministic or packed_long" > "$OUT/pytest_boundary_det_packed.log" 2>&1 &
t tests/test_kernels.py -k "test_backward_kernels_long_sequences and (4099 or 16384)" > "$OUT/pytest_bwd_long_4099.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
grep -c PASSED "$OUT"/pytest_*.log
echo "all done at $SECONDS s"
