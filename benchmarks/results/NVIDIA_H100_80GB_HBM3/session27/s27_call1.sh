#!/usr/bin/env bash
# Session 27, call 1 (tree a54acd0): is CUDA graphs' compiled layer still host-bound at short T?
# benchmarks/host_overhead.py at 8K / 16K / 64K, G = 4, eager / compiled / cudagraphs; then the
# SPEC harness at 64K, G = 16 (the rows session 26 took from index_cost.py).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
timeout 300 python3 benchmarks/host_overhead.py --seqlens 8192 16384 65536 --groups 4 2>&1 \
  | grep -v -i warn | tee $OUT/host_overhead.log
echo "host_overhead done at $SECONDS s"
mkdir -p $OUT/bench
timeout 250 python3 benchmarks/run.py --seqlens 65536 --groups 16 --out $OUT/bench 2>&1 \
  | grep -v -i warn | tail -40 | tee $OUT/bench_g16.log
echo "done at $SECONDS s"
