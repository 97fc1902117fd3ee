#!/usr/bin/env bash
# Session 17, call 2: the GPU suites that reach the selected backward, on main with
# split_head_dim on by default (2-byte dtypes, 64 < D <= 128), ci profile, parallel processes;
# the long-sequence backward cases split by group and length so the 16384-token ones get a
# process each. The forward kernels did not change (forward suites: session 16).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
budget=${BUDGET:-540}
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
for s in 0 1 2; do
  t tests/test_kernels.py -k "backward_kernels_match_oracle and shard$s" > "$OUT/pytest_bwd_oracle$s.log" 2>&1 &
done
t tests/test_kernels.py -k "packed_long or deterministic or mask_boundaries or registered or token_chunk or small_tiles" > "$OUT/pytest_kernels_misc.log" 2>&1 &
for g in 1 4 16; do
  t tests/test_kernels.py -k "test_backward_kernels_long_sequences and (1000-$g- or 4099-$g-)" > "$OUT/pytest_bwd_long_g$g.log" 2>&1 &
  t tests/test_kernels.py -k "test_backward_kernels_long_sequences and 16384-$g-" > "$OUT/pytest_bwd_long16k_g$g.log" 2>&1 &
done
t tests/test_numerics.py tests/test_large.py -m "triton or cuda" > "$OUT/pytest_numerics.log" 2>&1 &
timeout $((budget - SECONDS)) python3 -m fsa_ops > "$OUT/pytest_main_job.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "FAILED|ERROR" "$OUT"/pytest_*.log | cut -c1-200 | head -40
echo "passed: $(cat "$OUT"/pytest_*.log | grep -c PASSED), skipped: $(cat "$OUT"/pytest_*.log | grep -c SKIPPED)"
(cd "$OUT" && tar -czf logs.tar.gz pytest_*.log && rm -f pytest_*.log)
echo "all done at $SECONDS s"
