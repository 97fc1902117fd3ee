#!/usr/bin/env bash
# Session 26, call 1 (tree b6e792f): per-kernel profile of the layer at 8K and 16K (G = 4),
# then the SPEC §6 harness at 8K/16K G = 4 and 64K G = 1, 2 (the H100 rows for those in
# latest.* are from 2026-11-23's kernels).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
B=$OUT/bench; mkdir -p $B
GPU=$(python3 -c 'import torch; print(torch.cuda.get_device_name().replace(" ", "_"))')
cp benchmarks/results/$GPU/latest.json $B/ || true
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv | tee $B/gpu.txt
for T in 8192 16384; do
  timeout 60 python3 benchmarks/profile_layer.py --seqlen $T --groups 4 2>&1 | grep -v Warn > $B/profile_$T.log
  head -40 $B/profile_$T.log
done
(cd $OUT && tar -czf bench.tar.gz bench)
timeout 90 python3 scratch/index_cost.py 1 4 16 2>&1 | grep -v Warn | tee $B/index_cost.log
timeout 200 python3 benchmarks/run.py --seqlens 8192 16384 --groups 4 --out $B --append 2>&1 | grep -v Warn > $B/bench_short.log
tail -25 $B/bench_short.log; echo "short done at $SECONDS s"
(cd $OUT && tar -czf bench.tar.gz bench)
timeout $((560 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 1 2 --out $B --append 2>&1 | grep -v Warn > $B/bench_64k.log
tail -30 $B/bench_64k.log
(cd $OUT && tar -czf bench.tar.gz bench)
echo "done at $SECONDS s"
