#!/usr/bin/env bash
# Session 28, call 1 (tree 78da1c3): the layer's kernels now; the forward's token chunks;
# then test_large (index kernels past 2**31) and the short-sequence numerics cases.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
echo "== chunks"; timeout 200 python3 scratch/chunks.py 2 4 8 16 2>&1 | grep -v -i warn | tee $OUT/chunks.log
echo "== profile at $SECONDS s"; timeout 120 python3 benchmarks/profile_layer.py --seqlen 65536 --groups 4 2>&1 | grep -v -i warn | tee $OUT/profile_g4.log
echo "== tests at $SECONDS s"
t() { local name=$1; local limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t large 300 tests/test_large.py &
t short 300 tests/test_numerics.py -k "short_sequences" &
wait
for f in $OUT/large.log $OUT/short.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "PASSED|FAILED|ERROR" $OUT/large.log $OUT/short.log | cut -c1-160 | head -30
echo "done at $SECONDS s"
