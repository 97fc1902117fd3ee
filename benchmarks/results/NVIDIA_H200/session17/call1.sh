#!/usr/bin/env bash
# Session 17, call 1: time both prepared branches against their own defaults (= main's SASS).
# Range branch: sweep_range --backward (9 variants, 4 last keys-major dK/dV).
# Split branch: sweep_selected --backward, variants {} + the 3 split_head_dim ones + stages 1/2.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
rb=/tmp/fsa_range; mkdir -p $rb && tar -xf scratch/branch_range.tar -C $rb
sb=/tmp/fsa_split; mkdir -p $sb && tar -xf scratch/branch_split.tar -C $sb
split_sweep() {  # $@: extra sweep args
  (cd "$sb" && PYTHONPATH=/tmp/site python3 -c "
import sys; sys.argv = ['sweep_selected', '--backward'] + sys.argv[1:]
import benchmarks.sweep_selected as s
s.BACKWARD = [s.BACKWARD[0]] + s.BACKWARD[-3:] + [s.BACKWARD[3], s.BACKWARD[4]]
s.main()" "$@")
}
for i in 0 1 2 3 4 5; do (cd $rb && PYTHONPATH=/tmp/site timeout 220 python3 benchmarks/sweep_range.py --backward --shard $i/6 --warm > /dev/null 2>&1) & done
export sb; export -f split_sweep
for i in 0 1 2 3 4 5; do timeout 220 bash -c "split_sweep --shard $i/6 --warm" > /dev/null 2>&1 & done
wait; echo "warm done at $SECONDS s"
split_sweep 2>&1 | tee "$OUT/sweep_backward_split.log"
echo "split timed at $SECONDS s"
(cd $rb && PYTHONPATH=/tmp/site timeout 170 python3 benchmarks/sweep_range.py --backward) 2>&1 | tee "$OUT/sweep_range_backward.log"
echo "range timed at $SECONDS s"
[ $SECONDS -lt 420 ] && timeout $((540 - SECONDS)) python3 benchmarks/ablate_select_blocks.py --groups 4 2>&1 | tee "$OUT/ablate_select_blocks.log"
echo "all done at $SECONDS s"
