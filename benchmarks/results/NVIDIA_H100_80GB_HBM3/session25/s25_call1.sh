#!/usr/bin/env bash
# Session 25, call 1: range-attention backward/forward tile sweep at 64K, G = 4 (H100), then
# backward oracle shard 0 alone (not verified in session 24).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $L/gpu.txt
for i in 0 1 2 3 4 5 6 7; do timeout 200 python3 benchmarks/sweep_range.py --groups 4 --backward --warm --shard $i/8 > $L/warm_bwd$i.log 2>&1 & done
for i in 0 1; do timeout 200 python3 benchmarks/sweep_range.py --groups 4 --warm --shard $i/2 > $L/warm_fwd$i.log 2>&1 & done
wait; echo "warm done at $SECONDS s"
timeout 200 python3 benchmarks/sweep_range.py --groups 4 --backward > $L/sweep_bwd.log 2>&1
echo "bwd sweep done at $SECONDS s"; cat $L/sweep_bwd.log
timeout 100 python3 benchmarks/sweep_range.py --groups 4 > $L/sweep_fwd.log 2>&1
echo "fwd sweep done at $SECONDS s"; cat $L/sweep_fwd.log
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard0" > $L/pytest_bwd_oracle0.log 2>&1
echo "== shard0: $(grep -c PASSED $L/pytest_bwd_oracle0.log) passed, $(grep -c FAILED $L/pytest_bwd_oracle0.log) failed; $(tail -n 1 $L/pytest_bwd_oracle0.log)"
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
