#!/usr/bin/env bash
# Session 28, call 3 (tree a9eaf0f): forward chunk sizes at G = 1, 8, 16 around the new default;
# the harness's selected rows (fsa_ops, fla) at G = 16, 8, 4, 1; GPU tests of the change.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
echo "== chunks"; timeout 120 python3 scratch/chunks.py call3 1 16 8 2>&1 | grep -v -i warn | tee $OUT/chunks.log
echo "== selected rows at $SECONDS s"; timeout 220 python3 scratch/selected_rows.py $OUT/rows 65536 16 8 4 1 2>&1 | grep -v -i warn | tee $OUT/selected_rows.log
echo "== tests at $SECONDS s"
t() { local name=$1; local limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t t1 240 tests/test_kernels.py -k "test_bitwise_deterministic or test_kernels_packed_long or token_chunk or selected_forward_knobs or overlap_is_bitwise or block_index" &
t t2 240 tests/test_kernels.py -k "test_forward_kernels_long_sequences and (16384 or 4099-4-bfloat16)" &
t t3 240 tests/test_large.py -k "selected" &
t t4 240 tests/test_compile.py -k "cuda" &
t t5 240 tests/test_kernels.py -k "test_backward_kernels_long_sequences and (1000-16-float16 or 1000-4-bfloat16)" &
t t6 240 tests/test_numerics.py -k "short_sequences and dtype1" &
wait
echo "tests done at $SECONDS s"
for f in $OUT/t?.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|ERROR" $OUT/t?.log | cut -c1-200 | head -20
tar -cf $OUT/tests.tar -C $OUT t1.log t2.log t3.log t4.log t5.log t6.log && rm $OUT/t?.log
echo "done at $SECONDS s"
