#!/usr/bin/env bash
# Session 26, call 2 (tree afa0b6a): the backward long cases that run the deterministic=False
# selected backward with a dq_accumulate (its float32 accumulator now starts as a copy of it);
# then, alone, block_index at 64K per kernel and against variants of its sort step, and the
# selected forward with the backward's token chunks at G = 2 and 16; before them, whether the
# layer at 8K is host-bound (scratch/short_t.py).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
git log --oneline -1 2>/dev/null | tee -a $OUT/gpu.txt
HYPOTHESIS_PROFILE=ci timeout 150 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py \
  -k "test_backward_kernels_long_sequences and (1000-4-bfloat16 or 1000-1-float32)" \
  > $OUT/pytest_backward_long.log 2>&1
grep -E "PASSED|FAILED|ERROR|passed|failed" $OUT/pytest_backward_long.log | cut -c1-160
echo "tests done at $SECONDS s"
timeout 120 python3 scratch/short_t.py 2>&1 | grep -v -i warn | tee $OUT/short_t.log
echo "short_t done at $SECONDS s"
timeout 130 python3 scratch/index_variants.py 2>&1 | grep -v -i warn | tee $OUT/index_variants.log
echo "done at $SECONDS s"
