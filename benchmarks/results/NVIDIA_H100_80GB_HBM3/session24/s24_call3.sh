#!/usr/bin/env bash
# Session 24, call 3: the torch 2.11 kernel-list snapshots (CPU and CUDA) re-accepted for the
# backward order window, compressed (dq_accumulate), selected, then checked in a fresh process; in parallel the GPU suites touching the
# change: test_module, every CUDA test of test_compile, backward long cases, determinism /
# packed long / mask boundaries / piece slots, backward oracle shards 0-1, the main job.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
t() { name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 440 python3 -m pytest -v -p no:cacheprovider "$@" > $L/pytest_$name.log 2>&1; }
(EXPECTTEST_ACCEPT=1 timeout 280 python3 -m pytest -q -p no:cacheprovider tests/test_compile.py -k kernel_list > $L/accept.log 2>&1
 cp tests/test_compile.py $OUT/test_compile_accepted.py
 t kernel_list_check tests/test_compile.py -k kernel_list) &
t compile tests/test_compile.py -k "cuda and not kernel_list" &
t module tests/test_module.py &
for s in 0 1; do t bwd_oracle$s tests/test_kernels.py -k "backward_kernels_match_oracle and shard$s" & done
t bwd_long tests/test_kernels.py -k "backward_kernels_long_sequences and (1000-4 or 4099-4 or 16384-4) and bfloat16" &
t misc tests/test_kernels.py -k "deterministic or packed_long or mask_boundaries or piece_slots or token_chunk" &
timeout 300 python3 -m fsa_ops > $L/main_job.log 2>&1 &
wait; echo "done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "^FAILED|Error" $L/pytest_*.log | cut -c1-200 | head -20
tail -n 3 $L/accept.log; tail -n 2 $L/main_job.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
