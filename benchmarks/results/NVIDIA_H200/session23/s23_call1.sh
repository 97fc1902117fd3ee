#!/usr/bin/env bash
# Session 23, call 1: the NSA layer's memory per launcher with the compressed branch's backward
# before the selected one (_LateCompressed) and the backward's default 0.5 GiB token chunks,
# against HEAD (baseline.tar) and against this tree with the old 1 GiB / 4-chunk backward
# default; the selected backward at G = 1 with its new default (2 chunks) against 1 chunk;
# the SPEC §6 harness at 64K G = 4; then the two kernel-list snapshots of torch 2.11
# (CPU and CUDA) re-accepted and checked again in a fresh process. One timing process at a time.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
L=$OUT/logs; mkdir -p $L
NEW=$PWD; BASE=/tmp/base; mkdir -p $BASE && tar -xf baseline.tar -C $BASE
export PYTHONPATH=/tmp/site:$NEW
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv > $L/gpu.txt 2>&1
timeout 150 python3 benchmarks/memory_layer.py --groups 1 4 16 > $L/memory_new.log 2>&1; echo "mem new at $SECONDS s"
timeout 100 python3 -c "
import sys, runpy
import fsa_ops.kernels.selected_attention as S
S.BACKWARD_WORKSPACE_BYTES, S.BACKWARD_MAX_CHUNKS = S.MIN_WORKSPACE_BYTES, S.MAX_CHUNKS
sys.argv = ['memory_layer.py', '--groups', '4']
runpy.run_path('benchmarks/memory_layer.py', run_name='__main__')" > $L/memory_new_4chunks.log 2>&1; echo "mem new 4 chunks at $SECONDS s"
(cd $BASE && PYTHONPATH=/tmp/site:$BASE timeout 100 python3 benchmarks/memory_layer.py --groups 4 > $L/memory_head.log 2>&1); echo "mem head at $SECONDS s"
timeout 120 python3 scratch/bwd_time.py 1,4 '{}' '{"chunk_tokens":65536}' '{"chunk_tokens":16384}' > $L/bwd_time.log 2>&1; echo "bwd time at $SECONDS s"
mkdir -p $OUT/bench && cp benchmarks/results/NVIDIA_H200/latest.json $OUT/bench/
timeout 260 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench --append > $L/bench_g4.log 2>&1; echo "bench g4 at $SECONDS s"
EXPECTTEST_ACCEPT=1 timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_compile.py -k "kernel_list" > $L/accept.log 2>&1; echo "accept at $SECONDS s"
cp tests/test_compile.py $OUT/test_compile_accepted.py
timeout 120 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k "kernel_list" > $L/kernel_list_check.log 2>&1; echo "check at $SECONDS s"
for f in $L/*.log; do echo "== $f"; grep -v "^\s*$" $f | tail -n 16 | cut -c1-160; done
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
