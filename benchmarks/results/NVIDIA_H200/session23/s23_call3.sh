#!/usr/bin/env bash
# Session 23, call 3: the layer's memory per launcher at G = 4 (call 1's logs did not come
# back), then the SPEC §6 harness at 64K, G = 16 and G = 1, merged into latest.json.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L $OUT/bench; cp benchmarks/results/NVIDIA_H200/latest.json $OUT/bench/
timeout 60 python3 benchmarks/memory_layer.py --groups 4 > $L/memory_g4.log 2>&1; echo "mem at $SECONDS s"
timeout 250 python3 benchmarks/run.py --seqlens 65536 --groups 16 --out $OUT/bench --append > $L/bench_g16.log 2>&1; echo "g16 at $SECONDS s"
timeout $((450 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 1 --out $OUT/bench --append > $L/bench_g1.log 2>&1; echo "g1 at $SECONDS s"
grep -v "^\s*$" $L/memory_g4.log | tail -n 30 | cut -c1-120
(cd $OUT && tar -czf all.tar.gz logs bench && rm -rf logs bench)
