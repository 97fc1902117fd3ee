#!/usr/bin/env bash
# Session 18, call 1 (on the working tree): the selected forward with each chunk's merge in the
# next chunk's partials launch (overlap_merge, sweep_selected FORWARD[16..19]) against the
# defaults, side by side; then session 17's prepared range backward sweep and ablation.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
PICK="--pick 0 16 17 18 19"
for i in 0 1 2 3 4; do timeout 150 python3 benchmarks/sweep_selected.py $PICK --shard $i/5 --warm > "$OUT/warm_fwd_$i.log" 2>&1 & done
for i in 0 1 2 3 4 5; do timeout 200 python3 benchmarks/sweep_range.py --backward --shard $i/6 --warm > /dev/null 2>&1 & done
wait; echo "warm done at $SECONDS s"; tail -n 3 "$OUT"/warm_fwd_*.log
timeout 120 python3 benchmarks/sweep_selected.py $PICK --groups 4 16 1 2>&1 | tee "$OUT/sweep_forward_overlap.log"
timeout 60 python3 benchmarks/sweep_selected.py --pick 0 16 --groups 4 16 2>&1 | tee -a "$OUT/sweep_forward_overlap.log"
echo "forward done at $SECONDS s"
timeout 170 python3 benchmarks/sweep_range.py --backward --groups 4 16 1 2>&1 | tee "$OUT/sweep_range_backward.log"
timeout $((560 - SECONDS)) python3 benchmarks/ablate_select_blocks.py --groups 4 2>&1 | tee "$OUT/ablate_select_blocks.log"
echo "all done at $SECONDS s"
