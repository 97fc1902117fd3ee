#!/usr/bin/env bash
# Session 24, call 1: the stream-overlap probe (session 23's, never run on a GPU) and the
# layer's per-kernel profile at 64K, G = 4.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv > $L/gpu.log 2>&1
timeout 200 python3 benchmarks/overlap_probe.py --groups 4 16 > $L/overlap.log 2>&1; echo "overlap at $SECONDS s"
timeout 150 python3 benchmarks/profile_layer.py --groups 4 > $L/profile_g4.log 2>&1; echo "profile at $SECONDS s"
cat $L/overlap.log | tail -n 20
grep -v "^\s*$" $L/profile_g4.log | head -n 60 | cut -c1-150
(cd $OUT && tar -czf all.tar.gz logs && rm -rf logs)
