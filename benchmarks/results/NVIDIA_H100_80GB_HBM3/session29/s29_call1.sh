#!/usr/bin/env bash
# Pending GPU call (written in session 29, which had no GPU): what a9eaf0f/0b33b4a never ran on
# a GPU, then the harness's selected rows at 64K G = 16 and 4 with the default forward chunks.
# run(command="bash benchmarks/results/NVIDIA_H100_80GB_HBM3/session29/s29_call1.sh", carry=[".whl"], timeout_s=590)
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
t() { local name=$1; local limit=$2; shift 2; HYPOTHESIS_PROFILE=ci timeout $limit python3 -m pytest -v -p no:cacheprovider --durations=0 -o faulthandler_timeout=150 "$@" > $OUT/$name.log 2>&1; }
t t1 240 tests/test_kernels.py -k "test_bitwise_deterministic or test_kernels_packed_long or token_chunk or selected_forward_knobs or overlap_is_bitwise or block_index" &
t t2 240 tests/test_kernels.py -k "test_forward_kernels_long_sequences and (16384 or 4099-4-bfloat16)" &
t t3 240 tests/test_large.py -k "selected" &
t t4 240 tests/test_numerics.py -k "test_short_sequences and dtype1 and packed" &
wait
echo "tests done at $SECONDS s"
for f in $OUT/t?.log; do echo "== $f: $(grep -E '(passed|failed)' $f | tail -n 1 | cut -c1-150)"; done
grep -h -E "FAILED|ERROR|Timeout|File \"/" $OUT/t?.log | cut -c1-200 | head -30
tar -cf $OUT/tests.tar -C $OUT t1.log t2.log t3.log t4.log && rm $OUT/t?.log
echo "== bench at $SECONDS s"
timeout $((560 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 16 4 --parts selected \
  --out $OUT/bench 2>&1 | grep -v -i warn | tee $OUT/bench.log | tail -30
echo "done at $SECONDS s"
