#!/usr/bin/env bash
# Session 21, call 6: sorted rounds whose best candidate is one reduction of (score, column)
# pairs (chain of 3 shuffles, 55 PTX instructions a round) against plain, G = 4, 8, 16;
# select_blocks GPU tests (both modes).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
PICK="--pick 12 13"
for i in 0 1; do timeout 100 python3 benchmarks/sweep_select_blocks.py $PICK --groups 4 16 8 --shard $i/2 --warm > $L/warm_$i.log 2>&1 & done
HYPOTHESIS_PROFILE=ci timeout 150 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "select_blocks" > $L/pytest_select.log 2>&1 &
wait; echo "warm + tests at $SECONDS s"
for r in 1 2; do timeout 60 python3 benchmarks/sweep_select_blocks.py $PICK --groups 4 16 8 2>&1 | tee -a $L/sweep_select_blocks.log; done
echo "$(grep -c PASSED $L/pytest_select.log) passed, $(grep -c FAILED $L/pytest_select.log) failed: $(tail -n 1 $L/pytest_select.log)"
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
