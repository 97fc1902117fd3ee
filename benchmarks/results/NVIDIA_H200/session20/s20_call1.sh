#!/usr/bin/env bash
# Session 20, call 1: range dK/dV and selected backward with keys as the score products' rows
# (A/B against baseline.tar = HEAD without the change), then GPU tests: the compiled layer
# (GatherBlocks fix, CUDA kernel-list snapshot accepted), range/selected kernel tests.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
L=$OUT/logs; mkdir -p $L
base=/tmp/fsa_base; mkdir -p $base && tar -xf baseline.tar -C $base && cp benchmarks/sweep_*.py $base/benchmarks/
in_base() { (cd $base && PYTHONPATH=/tmp/site:$base "$@"); }
# Compile in parallel (shared Triton cache), then time one process at a time.
in_base timeout 200 python3 benchmarks/sweep_range.py --backward --variants 1 --warm > /dev/null 2>&1 &
timeout 200 python3 benchmarks/sweep_range.py --backward --variants 1 --warm > /dev/null 2>&1 &
timeout 200 python3 benchmarks/sweep_selected.py --backward --pick 0 15 --warm > /dev/null 2>&1 &
timeout 200 python3 benchmarks/sweep_selected.py --backward --pick 16 6 17 --warm > /dev/null 2>&1 &
wait; echo "warm at $SECONDS s"
for rep in 1 2; do
  in_base timeout 90 python3 benchmarks/sweep_range.py --backward --variants 1 >> $L/base_range_bwd.log 2>&1
  timeout 90 python3 benchmarks/sweep_range.py --backward --variants 1 >> $L/new_range_bwd.log 2>&1
done
timeout 150 python3 benchmarks/sweep_selected.py --backward --pick 0 15 16 6 17 > $L/selected_bwd.log 2>&1
echo "timed at $SECONDS s"
cat $L/base_range_bwd.log $L/new_range_bwd.log $L/selected_bwd.log | grep -v "^$"
# Tests, in parallel processes.
cp tests/test_compile.py /tmp/test_compile_before.py
EXPECTTEST_ACCEPT=1 timeout 330 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k "kernel_list" > $L/pytest_kernel_list.log 2>&1 &
timeout 330 python3 -m pytest -v -p no:cacheprovider tests/test_module.py tests/test_compile.py -k "not kernel_list and not recall" > $L/pytest_module_compile.log 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 330 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "selected_mask_boundaries or range_kernels_small_tiles or bitwise_deterministic" > $L/pytest_kernels_a.log 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 330 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle" > $L/pytest_kernels_b.log 2>&1 &
wait
cp tests/test_compile.py $OUT/test_compile.py
for f in $L/pytest_*.log; do echo "== $f"; tail -n 2 $f; done
grep -h -E "FAILED|ERROR" $L/pytest_*.log | head -20
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
