#!/usr/bin/env bash
# Session 19, call 2: select_blocks with the top-n as packed int64 keys (default) against the
# score/block pair (packed_keys=False, VARIANTS[12]), G = 1, 4, 8, 16; GPU suites that reach
# select_blocks; the layer's per-kernel profile at G = 4 and 16; the SPEC §6 harness at G = 4.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
L=$OUT/logs; mkdir -p $L
PICK="--pick 0 12"
for i in 0 1; do timeout 150 python3 benchmarks/sweep_select_blocks.py $PICK --groups 1 4 8 16 --shard $i/2 --warm > $L/warm_$i.log 2>&1 & done
wait; echo "warm done at $SECONDS s"
for r in 1 2; do timeout 120 python3 benchmarks/sweep_select_blocks.py $PICK --groups 4 16 1 8 2>&1 | tee -a $L/sweep_select_blocks.log; done
echo "sweep done at $SECONDS s"
t() { HYPOTHESIS_PROFILE=ci timeout 200 python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_kernels.py -k "select or blocks" > $L/pytest_kernels_select.log 2>&1 &
t tests/test_numerics.py -m "triton or cuda" > $L/pytest_numerics.log 2>&1 &
t tests/test_module.py tests/test_compile.py > $L/pytest_module_compile.log 2>&1 &
timeout 200 python3 -m fsa_ops > $L/main_job.log 2>&1 &
wait; echo "tests done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" $L/pytest_*.log | cut -c1-200 | head -20
tail -n 2 $L/main_job.log
timeout 90 python3 benchmarks/profile_layer.py --groups 4 16 2>&1 | tee $L/profile_layer.log | grep -E "##|select_blocks"
timeout $((565 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench 2>&1 | tail -n 30 > $L/bench_g4.log
tail -n 12 $L/bench_g4.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
