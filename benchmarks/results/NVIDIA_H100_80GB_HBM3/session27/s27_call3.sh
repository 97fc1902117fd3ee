#!/usr/bin/env bash
# Session 27, call 3: the block index and work list as Triton kernels (fewer host launches).
# A: GPU tests of everything that builds the index, in parallel processes.
# B: alone, old tree (baseline.tar = a54acd0) against new: host_overhead at 8K/16K/64K and
#    index_time (block_index + work_list, selected op fwd / fwd+bwd at 64K).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
mkdir -p /tmp/base && tar -xf baseline.tar -C /tmp/base && cp scratch/index_time.py /tmp/base/
t() { local name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 240 python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t t1 tests/test_kernels.py -k "block_index or work_list or piece_slots or token_chunk or registered or overlap_is_bitwise or selected_forward_knobs" &
t t2 tests/test_kernels.py -k "test_selected_mask_boundaries" &
t t3 tests/test_kernels.py -k "test_bitwise_deterministic or test_kernels_packed_long" &
t t4 tests/test_kernels.py -k "test_forward_kernels_long_sequences and (16384 or 4099-4-bfloat16 or 1000-3-float32)" &
t t5 tests/test_kernels.py -k "test_backward_kernels_long_sequences and (1000-4-bfloat16 or 1000-16-float16)" &
t t6 tests/test_module.py tests/test_compile.py -k "cuda or compiled_layer or packed or training_step" &
t t7 tests/test_numerics.py -k "short_sequences or thousand or every_token" &
wait
echo "tests done at $SECONDS s"
for f in $OUT/t?.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|ERROR" $OUT/t?.log | cut -c1-200 | head -20
echo "== new tree"; timeout 75 python3 scratch/index_time.py 2>&1 | grep -v -i warn | tee $OUT/index_time_new.log
echo "== old tree"; (cd /tmp/base && timeout 75 python3 index_time.py 2>&1 | grep -v -i warn | tee $OUT/index_time_old.log)
echo "== new tree"; timeout 70 python3 benchmarks/host_overhead.py --seqlens 8192 16384 65536 --modes eager compiled 2>&1 | grep -v -i warn | tee $OUT/host_new.log
echo "== old tree"; (cd /tmp/base && timeout 70 python3 benchmarks/host_overhead.py --seqlens 8192 16384 65536 --modes eager compiled 2>&1 | grep -v -i warn | tee $OUT/host_old.log)
echo "done at $SECONDS s"
