#!/usr/bin/env bash
# Session 28, call 4 (tree a9eaf0f; call 3's machine stopped answering): GPU tests of the
# forward's new chunks and the atomic backward's fix, in parallel, nothing else.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
t() { local name=$1; local limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t t1 140 tests/test_kernels.py -k "test_bitwise_deterministic or test_kernels_packed_long or token_chunk or selected_forward_knobs or overlap_is_bitwise or block_index" &
t t2 140 tests/test_kernels.py -k "test_forward_kernels_long_sequences and (16384-16 or 16384-4 or 4099-4-bfloat16)" &
t t3 140 tests/test_large.py -k "selected" &
t t5 140 tests/test_kernels.py -k "test_backward_kernels_long_sequences and 1000-16-float16" &
wait
echo "tests done at $SECONDS s"
for f in $OUT/t?.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|ERROR" $OUT/t?.log | cut -c1-200 | head -20
tar -cf $OUT/tests.tar -C $OUT t1.log t2.log t3.log t5.log && rm $OUT/t?.log
