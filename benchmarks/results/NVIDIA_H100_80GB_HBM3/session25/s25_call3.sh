#!/usr/bin/env bash
# Session 25, call 3: the GPU suites call 2's timeout cut off (test_module, CUDA tests of
# test_compile with the re-accepted torch 2.11 snapshot, determinism / mask boundaries / piece
# slots / token chunks, op tests) in parallel; then, alone on the GPU, the NSA layer fwd+bwd at
# 64K G = 4 (eager, compiled, SDPA: ms and peak) for the old tree (baseline.tar = ebb0cb7)
# and the new one.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
ROOT=$PWD; L=$OUT/logs; mkdir -p $L /tmp/base && tar -xf baseline.tar -C /tmp/base
export PYTHONPATH=/tmp/site:$ROOT
nvidia-smi --query-gpu=name --format=csv > $L/gpu.txt
t() { name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider "$@" > $L/pytest_$name.log 2>&1; }
t compile tests/test_compile.py -k "cuda or kernel_list" &
t module tests/test_module.py &
t misc tests/test_kernels.py -k "deterministic or mask_boundaries or piece_slots or token_chunk" &
t ops tests/test_ops.py -k "runs_after or dq_accumulate or deterministic_flag" &
wait; echo "tests done at $SECONDS s"
(cd $OUT && tar -czf tests.tar.gz logs)
for f in $L/pytest_*.log; do echo "== $(basename $f): $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
cp $ROOT/benchmarks/results/NVIDIA_H100_80GB_HBM3/session24/call2/layer_peak.py /tmp/layer_peak.py
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base timeout 115 python3 /tmp/layer_peak.py 4) 2>&1 | tee $L/peak_old.log | grep -v Warn; echo "old at $SECONDS s"
timeout 115 python3 /tmp/layer_peak.py 4 2>&1 | tee $L/peak_new.log | grep -v Warn; echo "new at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $(basename $f): $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "^FAILED|Error" $L/pytest_*.log | cut -c1-200 | head -20
cat $L/gpu.txt; grep -v Warn $L/peak_old.log; echo ---; grep -v Warn $L/peak_new.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
