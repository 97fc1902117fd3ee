#!/usr/bin/env bash
# Session 16, call 4: the SPEC §6 harness at 64K, G = 16 then G = 1, on main after the merge
# (results are written after every shape, so a cut run keeps G = 16).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
timeout ${BUDGET:-380} python3 benchmarks/run.py --seqlens 65536 --groups 16 1 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"; cat "$OUT/bench/latest.md" 2>/dev/null; tail -n 5 "$OUT/bench.log"
