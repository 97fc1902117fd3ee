export PYTHONUNBUFFERED=1; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $OUT/gpu.txt
base=/tmp/fsa_base; mkdir -p $base && tar -xf baseline.tar -C $base && cp benchmarks/sweep_range.py $base/benchmarks/
K="python3 -m pytest -v -p no:cacheprovider"; export HYPOTHESIS_PROFILE=ci
( timeout 150 $K tests/test_numerics.py -k float16_scores_near_max; timeout 120 $K tests/test_numerics.py -m "triton or cuda" -k "not float16_scores_near_max" ) > $OUT/pytest_numerics.log 2>&1 &
timeout 240 $K tests/test_kernels.py -k "small_tiles or packed_long or deterministic" > $OUT/pytest_kernels.log 2>&1 &
timeout 240 $K tests/test_kernels.py -k "test_forward_kernels_long_sequences" > $OUT/pytest_forward_long.log 2>&1 &
( timeout 200 $K tests/test_large.py; timeout 40 python3 -m fsa_ops ) > $OUT/pytest_large_main.log 2>&1 &
wait
for f in $OUT/pytest_*.log; do echo "== $f"; grep -E "passed|failed" $f | tail -2; done
grep -h -E "FAILED|ERROR" $OUT/pytest_*.log | cut -c1-150; grep -E "PASS|FAIL" $OUT/pytest_large_main.log | tail -2
for f in "" --backward; do (cd $base && PYTHONPATH=/tmp/site timeout 90 python3 benchmarks/sweep_range.py $f --variants 1 --warm >/dev/null 2>&1) & timeout 90 python3 benchmarks/sweep_range.py $f --variants 1 --warm > /dev/null 2>&1 & done; wait
for f in "" --backward; do (cd $base && PYTHONPATH=/tmp/site timeout 50 python3 benchmarks/sweep_range.py $f --variants 1) >> $OUT/base_sweep_range.log 2>&1; timeout 50 python3 benchmarks/sweep_range.py $f --variants 1 >> $OUT/sweep_range.log 2>&1; done
cat $OUT/base_sweep_range.log $OUT/sweep_range.log
