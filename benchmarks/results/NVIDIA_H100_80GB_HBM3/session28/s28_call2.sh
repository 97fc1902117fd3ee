#!/usr/bin/env bash
# Session 28, call 2 (tree 1a97b4c): the forward's new default chunks against the old, the
# selected rows at G = 16 and 4 (fsa_ops and fla, no Flex), then GPU tests of the change.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
echo "== chunks"; timeout 150 python3 scratch/chunks.py 2 8 16 2>&1 | grep -v -i warn | tee $OUT/chunks.log
echo "== selected rows at $SECONDS s"; timeout 200 python3 scratch/selected_rows.py $OUT/rows 65536 16 4 2>&1 | grep -v -i warn | tee $OUT/selected_rows.log
echo "== tests at $SECONDS s"
t() { local name=$1; local limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t t1 240 tests/test_kernels.py -k "block_index or work_list or piece_slots or token_chunk or registered or overlap_is_bitwise or selected_forward_knobs" &
t t2 240 tests/test_kernels.py -k "test_bitwise_deterministic or test_kernels_packed_long or test_selected_mask_boundaries" &
t t3 240 tests/test_kernels.py -k "test_forward_kernels_long_sequences and (16384 or 4099-4-bfloat16)" &
t t4 240 tests/test_large.py -k "selected" &
t t5 240 tests/test_module.py &
wait
echo "tests done at $SECONDS s"
for f in $OUT/t?.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|ERROR" $OUT/t?.log | cut -c1-200 | head -20
tar -cf $OUT/tests.tar -C $OUT t1.log t2.log t3.log t4.log t5.log && rm $OUT/t?.log
echo "done at $SECONDS s"
