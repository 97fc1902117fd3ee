#!/usr/bin/env bash
# Session 16, call 3 (next/s16): the merged tree's forward defaults beside l2_hints=False and
# q_ahead uncapped, and main's (scratch/main.tar = git archive main), one timing process at a
# time; the SPEC §6 harness at 64K, G = 4; python -m fsa_ops; then the backward oracle shard
# call 2 left unfinished, to the call's end.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
mn=/tmp/fsa_main; mkdir -p $mn && tar -xf scratch/main.tar -C $mn
in_mn() { (cd "$mn" && PYTHONPATH=/tmp/site "$@"); }
for i in 0 1 2; do timeout 150 python3 benchmarks/sweep_selected.py --variants 3 --shard $i/3 --warm > /dev/null 2>&1 & done
in_mn timeout 150 python3 benchmarks/sweep_selected.py --variants 1 --warm > /dev/null 2>&1 &
wait; echo "warm done at $SECONDS s"
timeout 90 python3 benchmarks/sweep_selected.py --variants 3 > "$OUT/sweep_s16.log" 2>&1
in_mn timeout 60 python3 benchmarks/sweep_selected.py --variants 1 > "$OUT/sweep_main.log" 2>&1
echo "== next/s16"; cat "$OUT/sweep_s16.log"; echo "== main"; cat "$OUT/sweep_main.log"; echo "sweeps done at $SECONDS s"
timeout 240 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "bench rc $? at $SECONDS s"; cat "$OUT/bench/latest.md" 2>/dev/null || tail -n 30 "$OUT/bench.log"
end=470
HYPOTHESIS_PROFILE=ci timeout $((end - SECONDS)) python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_match_oracle and shard2" > "$OUT/pytest_bwd_oracle2.log" 2>&1 &
timeout 120 python3 -m fsa_ops > "$OUT/main_job.log" 2>&1; echo "python -m fsa_ops rc $?"; cat "$OUT/main_job.log"
wait; tail -n 3 "$OUT/pytest_bwd_oracle2.log"
echo "all done at $SECONDS s"
