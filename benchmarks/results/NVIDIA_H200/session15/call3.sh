#!/usr/bin/env bash
# Session 15, call 3 (main with next/partials-stores merged): the SPEC §6 harness at 64K, G = 4;
# then the backward oracle shards call 2 left unfinished and the kernel suites, in parallel.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
budget=${BUDGET:-570}
timeout 230 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"; cat "$OUT/bench/latest.md" 2>/dev/null || tail -n 30 "$OUT/bench.log"
t() { HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS)) python3 -m pytest -v -p no:cacheprovider "$@"; }
t tests/test_kernels.py -k "backward_kernels_match_oracle and shard0" > "$OUT/pytest_bwd_oracle0.log" 2>&1 &
t tests/test_kernels.py -k "backward_kernels_match_oracle and shard2" > "$OUT/pytest_bwd_oracle2.log" 2>&1 &
t tests/test_kernels.py -k "packed_long or deterministic or block_index or mask_boundaries or registered or token_chunk or small_tiles" > "$OUT/pytest_kernels_misc.log" 2>&1 &
t tests/test_kernels.py -k "test_backward_kernels_long_sequences" > "$OUT/pytest_bwd_long.log" 2>&1 &
t tests/test_kernels.py -k "test_forward_kernels_long_sequences" > "$OUT/pytest_fwd_long.log" 2>&1 &
t tests/test_numerics.py -m "triton or cuda" > "$OUT/pytest_numerics.log" 2>&1 &
wait
for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 1 "$f"; done
grep -h -E "PASSED|FAILED|ERROR" "$OUT"/pytest_*.log | sed 's/^tests.//' | cut -c1-140
(cd "$OUT" && tar -czf logs.tar.gz pytest_*.log bench.log && rm -f pytest_*.log bench.log)
echo "all done at $SECONDS s"
