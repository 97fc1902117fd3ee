#!/usr/bin/env bash
# Session 18, call 2: overlap_merge with larger merge programs (FORWARD[19..23]) against the
# defaults and the plain merge at 32 / 64 rows (FORWARD[5], [6]).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
PICK="--pick 0 5 6 19 20 21 22 23"
for i in 0 1 2 3 4 5 6 7; do timeout 150 python3 benchmarks/sweep_selected.py $PICK --shard $i/8 --warm > "$OUT/warm_fwd_$i.log" 2>&1 & done
wait; echo "warm done at $SECONDS s"
timeout 200 python3 benchmarks/sweep_selected.py $PICK --groups 4 16 1 2>&1 | tee "$OUT/sweep_forward_overlap2.log"
timeout 100 python3 benchmarks/sweep_selected.py --pick 0 20 21 --groups 4 16 2>&1 | tee -a "$OUT/sweep_forward_overlap2.log"
echo "all done at $SECONDS s"
