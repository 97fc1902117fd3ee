#!/usr/bin/env bash
# Session 22, call 6: the harness at 64K, G = 16, alone, merged into latest.json (--append).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
mkdir -p $OUT/bench && cp benchmarks/results/NVIDIA_H200/latest.json $OUT/bench/
timeout 320 python3 benchmarks/run.py --seqlens 65536 --groups 16 --out $OUT/bench --append > $OUT/bench_g16.log 2>&1
echo "bench rc $? at $SECONDS s"
grep -E "^\| 65536 \| 16 " $OUT/bench_g16.log | head
