#!/usr/bin/env bash
# Session 12 call 3: GPU tests of this tree (the forward kernels and select_blocks).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
left=${BUDGET:-540}
HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_large.py tests/test_numerics.py -v -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1 &
i=0
for sel in "small_chunks or exact_ties or select_blocks_geometries or block_index or registered" \
           "test_forward_kernels_long_sequences and 1000" "test_forward_kernels_long_sequences and 4099" \
           "test_forward_kernels_match_oracle"; do
  i=$((i + 1))
  HYPOTHESIS_PROFILE=ci timeout $left python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider -k "$sel" > "$OUT/pytest_kernels_$i.log" 2>&1 &
done
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; grep -c PASSED "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200
echo "all done at $SECONDS s"
