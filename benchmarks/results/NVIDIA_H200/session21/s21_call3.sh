#!/usr/bin/env bash
# Session 21, call 3: range kernels under register caps (window forward takes 240 registers a
# thread: 2 programs an SM), forward and backward, G = 4 and 16.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
for i in 0 1; do timeout 150 python3 benchmarks/sweep_range.py --pick 0 5 6 7 8 --groups 4 16 --shard $i/2 --warm > /dev/null 2>&1 & done
for i in 0 1; do timeout 200 python3 benchmarks/sweep_range.py --backward --pick 0 6 7 8 --groups 4 16 --shard $i/2 --warm > /dev/null 2>&1 & done
wait; echo "warm at $SECONDS s"
timeout 150 python3 benchmarks/sweep_range.py --pick 0 5 6 7 8 --groups 4 16 2>&1 | tee $L/sweep_range_fwd.log
timeout 200 python3 benchmarks/sweep_range.py --backward --pick 0 6 7 8 --groups 4 16 2>&1 | tee $L/sweep_range_bwd.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
