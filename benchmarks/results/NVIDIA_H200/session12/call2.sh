#!/usr/bin/env bash
# Session 12 call 2: select_blocks row defaults at G = 2 / 4 / 8, then the SPEC §6 harness at 64K.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
cat > /tmp/rows.py <<'PY'
import sys, torch, triton.testing
sys.path.insert(0, ".")
from benchmarks.sweep_select_blocks import select_blocks_call
from fsa_ops.kernels.select_blocks import select_blocks_forward
warm = "--warm" in sys.argv
for g in (2, 4, 8):
    call = select_blocks_call(65536, g)
    base = None
    for kw in ({}, dict(rows=64, num_warps=4), dict(rows=128, num_warps=8), dict(rows=256, num_warps=8)):
        out = select_blocks_forward(*call, **kw)
        base = out if base is None else base
        if warm:
            continue
        ms = triton.testing.do_bench(lambda: select_blocks_forward(*call, **kw), warmup=10, rep=60, return_mode="median")
        print(f"G={g} {str(kw or 'default'):<34} {ms:7.3f} ms  equal to default: {torch.equal(out, base)}", flush=True)
PY
timeout 120 python3 /tmp/rows.py --warm
timeout 60 python3 /tmp/rows.py 2>&1 | tee "$OUT/select_blocks_rows.log"
echo "rows done at $SECONDS s"
timeout $((${BUDGET:-575} - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 4 1 16 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"
tail -n 30 "$OUT/bench/latest.md" 2>/dev/null || tail -n 30 "$OUT/bench.log"
