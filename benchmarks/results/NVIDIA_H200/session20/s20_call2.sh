#!/usr/bin/env bash
# Session 20, call 2: selected backward with keys as the score products' rows (scores_t, now
# the default) against the [rows, keys] scores, one timing process; if faster at G = 4, the
# SPEC §6 harness at G = 4; then the GPU tests call 1 did not finish (backward oracle, export /
# AOTI / host sync / CUDA graphs) and the main job.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
timeout 150 python3 benchmarks/sweep_selected.py --backward --pick 0 14 12 --warm > /dev/null 2>&1 &
timeout 150 python3 benchmarks/sweep_selected.py --backward --pick 15 6 16 --warm > /dev/null 2>&1 &
wait; echo "warm at $SECONDS s"
timeout 150 python3 benchmarks/sweep_selected.py --backward --pick 0 14 12 15 6 16 2>&1 | tee $L/selected_bwd.log
echo "timed at $SECONDS s"
new=$(grep "^G=4 " $L/selected_bwd.log | sed -n 1p | grep -o '[0-9.]* ms' | awk '{print $1}')
old=$(grep "^G=4 " $L/selected_bwd.log | sed -n 2p | grep -o '[0-9.]* ms' | awk '{print $1}')
echo "G=4 scores_t $new ms, [rows, keys] $old ms"
if python3 -c "import sys; sys.exit(0 if float('$new') < float('$old') else 1)"; then
  timeout 240 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench > $L/bench.log 2>&1
  tail -n 45 $OUT/bench/latest.md
fi
echo "bench done at $SECONDS s"
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard0" > $L/pytest_oracle0.log 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard1" > $L/pytest_oracle1.log 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard2" > $L/pytest_oracle2.log 2>&1 &
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "selected_mask_boundaries or bitwise_deterministic or test_backward_kernels_long_sequences and 4099" > $L/pytest_kernels_sel.log 2>&1 &
timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k "export or aoti or host_sync or cuda_graphs" > $L/pytest_compile_rest.log 2>&1 &
wait
timeout 60 python3 -m fsa_ops --seqlen 4096 > $L/main_job.log 2>&1; tail -n 3 $L/main_job.log
for f in $L/pytest_*.log; do echo "== $f"; tail -n 1 $f; done
grep -h -E "FAILED|ERROR" $L/pytest_*.log | head -20
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
