#!/usr/bin/env bash
# Session 25, call 2: GPU suites for selected_attention_backward's dq_accumulate and the
# backward chain (_LateSelected): backward oracle shards 0-2 and long cases (both with the
# chunked and atomic dq_accumulate variants), test_module, CUDA tests of test_compile (torch
# 2.11 kernel-list snapshots checked, re-accepted only if they differ), op tests,
# determinism / token chunks / piece slots, the main job. Suites in parallel processes.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
nvidia-smi --query-gpu=name --format=csv > $L/gpu.txt
t() { name=$1; limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider "$@" > $L/pytest_$name.log 2>&1; }
for s in 0 1 2; do t bwd_oracle$s 540 tests/test_kernels.py -k "backward_kernels_match_oracle and shard$s" & done
(t kernel_list 200 tests/test_compile.py -k kernel_list || {
   EXPECTTEST_ACCEPT=1 timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_compile.py -k kernel_list > $L/accept.log 2>&1
   cp tests/test_compile.py $OUT/test_compile_accepted.py
   t kernel_list_recheck 200 tests/test_compile.py -k kernel_list; }
 t compile 300 tests/test_compile.py -k "cuda and not kernel_list") &
t module 400 tests/test_module.py &
t bwd_long 500 tests/test_kernels.py -k "backward_kernels_long_sequences and (1000-16 or 4099-4 or 16384-4) and bfloat16" &
t misc 500 tests/test_kernels.py -k "deterministic or mask_boundaries or piece_slots or token_chunk" &
t ops 300 tests/test_ops.py -k "runs_after or dq_accumulate or deterministic_flag" &
timeout 300 python3 -m fsa_ops > $L/main_job.log 2>&1 &
wait; echo "done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $(basename $f): $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "^FAILED|Error" $L/pytest_*.log | cut -c1-200 | head -20
tail -n 2 $L/main_job.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
