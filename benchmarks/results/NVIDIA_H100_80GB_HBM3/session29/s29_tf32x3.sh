#!/usr/bin/env bash
# Pending GPU call for the tf32x3 change (branch s29-tf32x3, or `git am` tf32x3.patch beside
# this script, first): float32 products as tf32x3 against ieee, each in its own Triton cache,
# side by side: compile + run time of the float32 case that never finished
# (test_short_sequences dtype1-packed), accuracy against the float64 oracle at T = 1000, G = 4,
# fp32 timings at 16K; then the float32 GPU tests (tf32x3).
# run(command="bash benchmarks/results/NVIDIA_H100_80GB_HBM3/session29/s29_tf32x3.sh", carry=[".whl"], timeout_s=590)
set -u
HERE=$(dirname "$0")
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
# Four processes: per mode, the float32 packed short case (compile + run) and fp32_dot.py.
for mode in ieee tf32x3; do
  ( export FSA_FLOAT32_DOT=$mode TRITON_CACHE_DIR=/tmp/triton_$mode
    s=$SECONDS; HYPOTHESIS_PROFILE=ci timeout 240 python3 -m pytest -q -p no:cacheprovider --durations=3 \
      tests/test_numerics.py -k "test_short_sequences and dtype1 and packed" > $OUT/short_$mode.log 2>&1
    echo "$mode short_sequences fp32 packed: rc=$? $((SECONDS - s)) s" >> $OUT/short_$mode.log ) &
  FSA_FLOAT32_DOT=$mode TRITON_CACHE_DIR=/tmp/triton_${mode}_b timeout 240 \
    python3 $HERE/fp32_dot.py 1000 4 > $OUT/accuracy_$mode.log 2>&1 &
done
wait
tail -n 2 $OUT/short_*.log; cat $OUT/accuracy_*.log | grep -v -i warn
echo "== tests at $SECONDS s"
export FSA_FLOAT32_DOT=tf32x3 TRITON_CACHE_DIR=/tmp/triton_tf32x3
t() { local name=$1; shift; HYPOTHESIS_PROFILE=ci timeout $((560 - SECONDS)) python3 -m pytest -v \
  -p no:cacheprovider "$@" > $OUT/t_$name.log 2>&1; }
t fwd tests/test_kernels.py -k "forward_kernels_long_sequences and float32" &
t bwd tests/test_kernels.py -k "backward_kernels_long_sequences and float32" &
t edges tests/test_numerics.py -k "test_forward_edges and dtype2" &
wait
for f in $OUT/t_*.log; do echo "== $f: $(grep -E '(passed|failed)' $f | tail -n 1)"; done
grep -h -E "FAILED|ERROR" $OUT/t_*.log | cut -c1-200 | head -20
tar -cf $OUT/tests.tar -C $OUT $(cd $OUT && ls t_*.log short_*.log) && rm $OUT/t_*.log $OUT/short_*.log
echo "done at $SECONDS s"
