#!/usr/bin/env bash
# Session 14 call 2: the GPU test suites of this tree (backward num_stages 3 / 2, rounded token
# chunks), every suite in its own process from t = 0 (no timing in this call).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
budget=${BUDGET:-510}
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
k() { t tests/test_kernels.py -k "$1" > "$OUT/pytest_$2.log" 2>&1 & }
k "test_backward_kernels_match_oracle" bwd_oracle
k "test_forward_kernels_match_oracle or split_dot or select_blocks" fwd_oracle_blocks
k "test_backward_kernels_long_sequences" bwd_long
k "packed_long or deterministic or block_index or mask_boundaries or registered or token_chunk or small_tiles" det_packed_boundary
k "test_forward_kernels_long_sequences" fwd_long
t tests/test_numerics.py tests/test_large.py -m "triton or cuda" > "$OUT/pytest_numerics_large.log" 2>&1 &
t tests/test_compile.py tests/test_module.py tests/test_ops.py tests/test_errors.py > "$OUT/pytest_compile_module_ops.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "^(FAILED|ERROR)|FAILED|Error" "$OUT"/pytest_*.log | grep -v "^E " | cut -c1-220 | head -40
grep -c PASSED "$OUT"/pytest_*.log
echo "all done at $SECONDS s"
