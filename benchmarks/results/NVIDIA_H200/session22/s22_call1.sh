#!/usr/bin/env bash
# Session 22, call 1: the selected backward with direct dK/dV adds (this tree) beside HEAD's
# (baseline.tar), 64K, bf16, Hkv = 4, D = 128, at 1 (default) / 4 / 6 / 8 token chunks; then
# the NSA layer's memory per launcher, both trees. One timing process at a time.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
L=$OUT/logs; mkdir -p $L
NEW=$PWD; BASE=/tmp/base; mkdir -p $BASE && tar -xf baseline.tar -C $BASE
K4=('{}' '{"chunk_tokens":10944}' '{"chunk_tokens":8192}' '{"chunk_tokens":65536}')
new() { (cd $NEW && PYTHONPATH=/tmp/site:$NEW timeout 200 python3 $NEW/scratch/bwd_time.py "$@"); }
old() { (cd $BASE && PYTHONPATH=/tmp/site:$BASE timeout 200 python3 $NEW/scratch/bwd_time.py "$@"); }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv > $L/gpu.txt 2>&1
new 4 "${K4[@]}" > $L/new_g4.log 2>&1; echo "new g4 at $SECONDS s"
old 4 "${K4[@]}" > $L/old_g4.log 2>&1; echo "old g4 at $SECONDS s"
new 1,16 '{}' '{"chunk_tokens":8192}' > $L/new_g1_16.log 2>&1; echo "new g1,16 at $SECONDS s"
old 1,16 '{}' '{"chunk_tokens":8192}' > $L/old_g1_16.log 2>&1; echo "old g1,16 at $SECONDS s"
(cd $NEW && PYTHONPATH=/tmp/site:$NEW timeout 150 python3 benchmarks/memory_layer.py --groups 4 > $L/new_memory.log 2>&1); echo "new mem at $SECONDS s"
(cd $BASE && PYTHONPATH=/tmp/site:$BASE timeout 150 python3 benchmarks/memory_layer.py --groups 4 > $L/old_memory.log 2>&1); echo "old mem at $SECONDS s"
for f in $L/*.log; do echo "== $f"; grep -v "^\s*$" $f | tail -n 14 | cut -c1-160; done
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
