#!/usr/bin/env bash
# Run every Triton kernel (forward and backward) under compute-sanitizer's memcheck and
# racecheck on a CUDA machine; logs under ${OUT:-/tmp/fsa_out}/sanitizer_<tool>.log.
#   bash scripts/sanitize.sh
set -u
OUT=${OUT:-/tmp/fsa_out}
mkdir -p "$OUT"
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -z "$SAN" ]; then echo "compute-sanitizer not found"; exit 2; fi
# Warm the Triton cache outside the sanitizer (compiling under it is slow), then check.
python3 scripts/sanitize_kernels.py > "$OUT/sanitizer_warmup.log" 2>&1
for tool in memcheck racecheck; do
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout ${SAN_TIMEOUT:-200} "$SAN" --tool "$tool" \
    --target-processes all python3 scripts/sanitize_kernels.py > "$OUT/sanitizer_$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|sanitize workload' "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
done
