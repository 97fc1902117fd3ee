#!/usr/bin/env bash
# Session 24, call 4 (H100): the SPEC §6 harness at 64K, G = 4, merged into the H100's
# latest.json; then, one at a time (call 3 ran them beside other suites: OOM, time-out),
# test_kernels_packed_long and the backward oracle's shard 0.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L $OUT/bench; cp benchmarks/results/NVIDIA_H100_80GB_HBM3/latest.json $OUT/bench/
timeout 270 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench --append > $L/bench_g4.log 2>&1; echo "g4 at $SECONDS s"
HYPOTHESIS_PROFILE=ci timeout 90 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k packed_long > $L/pytest_packed_long.log 2>&1; echo "packed at $SECONDS s"
HYPOTHESIS_PROFILE=ci timeout $((500 - SECONDS)) python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard0" > $L/pytest_bwd_oracle0.log 2>&1; echo "oracle0 at $SECONDS s"
grep "nsa_attention\|sdpa" $OUT/bench/latest.md | grep "| 65536 | 4 |" | head -12
tail -n 1 $L/pytest_packed_long.log $L/pytest_bwd_oracle0.log
(cd $OUT && tar -czf all.tar.gz logs bench && rm -rf logs bench)
