#!/usr/bin/env bash
# Session 18, call 3: the GPU suites that reach the selected forward (overlap_merge on by
# default at G = 3, 4 over several chunks; the plain forward refactored into jit bodies), and
# the backward long cases session 17 did not reach (4099 tokens, float32). ci profile,
# parallel processes, logs tarred.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
budget=${BUDGET:-550}
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
for s in 0 1 2; do
  t tests/test_kernels.py -k "forward_kernels_match_oracle and shard$s" > "$OUT/pytest_fwd_oracle$s.log" 2>&1 &
done
t tests/test_kernels.py -k "packed_long or deterministic or mask_boundaries or token_chunk or forward_knobs or overlap or registered" > "$OUT/pytest_kernels_misc.log" 2>&1 &
for g in 1 3 4 16; do
  t tests/test_kernels.py -k "test_forward_kernels_long_sequences and (1000-$g- or 4099-$g- or 16384-$g-)" > "$OUT/pytest_fwd_long_g$g.log" 2>&1 &
done
for g in 1 4 16; do
  t tests/test_kernels.py -k "test_backward_kernels_long_sequences and 4099-$g-" > "$OUT/pytest_bwd_long4099_g$g.log" 2>&1 &
done
t tests/test_kernels.py -k "test_backward_kernels_long_sequences and 1000- and float32" > "$OUT/pytest_bwd_long1000_f32.log" 2>&1 &
t tests/test_numerics.py tests/test_large.py -m "triton or cuda" > "$OUT/pytest_numerics.log" 2>&1 &
timeout $((budget - SECONDS)) python3 -m fsa_ops > "$OUT/pytest_main_job.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200 | head -40
echo "passed: $(cat "$OUT"/pytest_*.log | grep -c PASSED), skipped: $(cat "$OUT"/pytest_*.log | grep -c SKIPPED)"
tail -n 2 "$OUT/pytest_main_job.log"
(cd "$OUT" && tar -czf logs.tar.gz pytest_*.log && rm -f pytest_*.log)
echo "all done at $SECONDS s"
