#!/usr/bin/env bash
# Session 21, call 5: GPU suites on the committed tree (42f911d): select_blocks tests, forward
# oracle shards and long forward cases (select_blocks at every G, sorted rounds at G >= 5),
# module tests, the compile tests earlier calls did not reach (host sync, CUDA graphs, AOTI),
# backward oracle shards (long compiles), main job.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
t() { name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 470 python3 -m pytest -v -p no:cacheprovider "$@" > $L/pytest_$name.log 2>&1; }
t select tests/test_kernels.py -k "select_blocks or split_dot" &
for s in 0 1 2; do t fwd_oracle$s tests/test_kernels.py -k "forward_kernels_match_oracle and shard$s" & done
for s in 0 1 2; do t bwd_oracle$s tests/test_kernels.py -k "backward_kernels_match_oracle and shard$s" & done
t fwd_long tests/test_kernels.py -k "forward_kernels_long_sequences" &
t module tests/test_module.py &
t compile_rest tests/test_compile.py -k "host_sync or cuda_graphs or aoti" &
timeout 200 python3 -m fsa_ops > $L/main_job.log 2>&1 &
wait; echo "done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|Error" $L/pytest_*.log | cut -c1-200 | head -20
tail -n 2 $L/main_job.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
