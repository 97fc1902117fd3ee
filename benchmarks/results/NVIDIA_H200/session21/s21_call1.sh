#!/usr/bin/env bash
# Session 21, call 1: select_blocks' insertion rounds three ways (topn = paired (default in the
# tree), plain (shipped), sorted), G = 1, 4, 8, 16, two timed runs; select_blocks GPU tests.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
L=$OUT/logs; mkdir -p $L
PICK="--pick 0 12 13"
for i in 0 1 2; do timeout 200 python3 benchmarks/sweep_select_blocks.py $PICK --groups 1 4 8 16 --shard $i/3 --warm > $L/warm_$i.log 2>&1 & done
HYPOTHESIS_PROFILE=ci timeout 300 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "select_blocks or split_dot" > $L/pytest_select.log 2>&1 &
wait; echo "warm + tests done at $SECONDS s"
for r in 1 2; do timeout 150 python3 benchmarks/sweep_select_blocks.py $PICK --groups 4 16 1 8 2>&1 | tee -a $L/sweep_select_blocks.log; done
echo "sweep done at $SECONDS s"
tail -n 1 $L/pytest_select.log; grep -h -E "FAILED|ERROR" $L/pytest_*.log | cut -c1-200 | head
cat $L/warm_*.log | head -20
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
