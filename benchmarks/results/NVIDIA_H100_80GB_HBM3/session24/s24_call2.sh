#!/usr/bin/env bash
# Session 24, call 2: the range branches' backward in one order (window, then compressed with
# the window's dq as dq_accumulate): layer fwd+bwd time and peak, eager and compiled, old tree
# (baseline.tar = 1f384a5) against new, in one process each; the compiled backward's code;
# the GPU tests of the changed kernel; the main job.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
ROOT=$PWD; L=$OUT/logs; mkdir -p $L /tmp/base && tar -xf baseline.tar -C /tmp/base
nvidia-smi --query-gpu=name --format=csv > $L/gpu.log 2>&1
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base DUMP=$L/bwd_code_old.py timeout 150 python3 $ROOT/scratch/layer_peak.py 4) > $L/peak_old.log 2>&1; echo "old at $SECONDS s"
export PYTHONPATH=/tmp/site:$ROOT
DUMP=$L/bwd_code_new.py timeout 150 python3 scratch/layer_peak.py 4 > $L/peak_new.log 2>&1; echo "new at $SECONDS s"
timeout 150 python3 -m pytest -q -x tests/test_kernels.py -k "range_kernels_small_tiles or bitwise_deterministic" > $L/tests_kernels.log 2>&1; echo "kernel tests at $SECONDS s"
timeout 100 python3 -m pytest -q -x tests/test_ops.py -k "runs_after or dq_accumulate or deterministic_flag" > $L/tests_ops.log 2>&1; echo "op tests at $SECONDS s"
timeout 90 python3 -m fsa_ops > $L/main.log 2>&1; echo "main at $SECONDS s"
cat $L/gpu.log $L/peak_old.log $L/peak_new.log | grep -v Warn
tail -n 2 $L/tests_kernels.log $L/tests_ops.log; tail -n 4 $L/main.log
(cd $OUT && tar -czf all.tar.gz logs && rm -rf logs)
