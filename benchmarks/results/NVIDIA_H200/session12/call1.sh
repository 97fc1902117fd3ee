#!/usr/bin/env bash
# Session 12 call 1: select_blocks sweeps (this tree beside baseline.tar = 1946bac), the
# prefetch scratch variant, then the GPU tests of this tree. One timing process at a time.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
base=/tmp/fsa_base; mkdir -p $base && tar -xf baseline.tar -C $base && cp benchmarks/sweep_*.py $base/benchmarks/
in_base() { (cd "$base" && PYTHONPATH=/tmp/site "$@"); }
in_base timeout 200 python3 benchmarks/sweep_select_blocks.py --variants 1 --warm > /dev/null 2>&1 &
for i in 0 1 2 3 4 5 6 7; do timeout 200 python3 benchmarks/sweep_select_blocks.py --warm --shard $i/8 > /dev/null 2>&1 & done
timeout 200 python3 scratch/prefetch_sweep.py --warm > "$OUT/prefetch_warm.log" 2>&1 &
wait
echo "warm done at $SECONDS s"
in_base timeout 60 python3 benchmarks/sweep_select_blocks.py --variants 1 --save /tmp/base_blocks.pt > "$OUT/base_sweep_select_blocks.log" 2>&1
timeout 160 python3 benchmarks/sweep_select_blocks.py --against /tmp/base_blocks.pt > "$OUT/sweep_select_blocks.log" 2>&1
timeout 60 python3 scratch/prefetch_sweep.py > "$OUT/prefetch_sweep.log" 2>&1
cat "$OUT"/base_sweep_select_blocks.log "$OUT"/sweep_select_blocks.log "$OUT"/prefetch_sweep.log; tail -3 "$OUT/prefetch_warm.log"
echo "timing done at $SECONDS s"
left=$((${BUDGET:-570} - SECONDS))
HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_large.py tests/test_numerics.py -v -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1 &
i=0
for sel in "small_tiles or small_chunks or exact_ties or block_index or select_blocks_geometries or registered" \
           "test_forward_kernels_long_sequences and (1000 or 4099)" "test_forward_kernels_long_sequences and 16384" \
           "test_forward_kernels_match_oracle"; do
  i=$((i + 1))
  HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "$sel" > "$OUT/pytest_kernels_$i.log" 2>&1 &
done
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
echo "all done at $SECONDS s"
