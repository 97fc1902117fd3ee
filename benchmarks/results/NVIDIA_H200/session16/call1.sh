#!/usr/bin/env bash
# Prepared in session 15 for session 16, call 1: branches next/entries-ahead (scratch/branch16.tar)
# and next/merge-heads (scratch/branch_merge.tar), each a `git archive` of its branch, against
# main's defaults, forward, one timing process at a time: entries-ahead's defaults (entries a
# tile ahead) and FORWARD[1..8] (l2_hints; q_ahead uncapped / capped / with l2_hints; uncapped
# alone; q_ahead on 32-row tiles; chunks of 8192 / 4096 tokens), merge-heads' defaults; then
# ncu of entries-ahead's partials kernel with q_ahead uncapped, beside its defaults. Files
# back: at most 8 (tar the rest). If a branch tar is missing: git archive BRANCH -o FILE.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
br=/tmp/fsa_branch; mkdir -p $br && tar -xf scratch/branch16.tar -C $br
in_br() { (cd "$br" && PYTHONPATH=/tmp/site "$@"); }
mh=/tmp/fsa_merge; mkdir -p $mh && tar -xf scratch/branch_merge.tar -C $mh
in_mh() { (cd "$mh" && PYTHONPATH=/tmp/site "$@"); }
for i in 0 1 2 3 4 5 6 7 8; do
  in_br timeout 200 python3 benchmarks/sweep_selected.py --variants 9 --shard $i/9 --warm > /dev/null 2>&1 &
done
timeout 200 python3 benchmarks/sweep_selected.py --variants 1 --warm > /dev/null 2>&1 &
in_mh timeout 200 python3 benchmarks/sweep_selected.py --variants 1 --warm > /dev/null 2>&1 &
wait; echo "warm done at $SECONDS s"
for r in 9 1; do      # every variant once, then the branch's defaults again
  in_br timeout 200 python3 benchmarks/sweep_selected.py --variants $r >> "$OUT/branch.log" 2>&1
  timeout 60 python3 benchmarks/sweep_selected.py --variants 1 >> "$OUT/main.log" 2>&1
  in_mh timeout 60 python3 benchmarks/sweep_selected.py --variants 1 >> "$OUT/merge.log" 2>&1
done
echo "== entries-ahead"; cat "$OUT/branch.log"; echo "== main"; cat "$OUT/main.log"; echo "== merge-heads"; cat "$OUT/merge.log"; echo "timing done at $SECONDS s"
for knobs in "{}" "dict(q_ahead=True, max_registers=0)"; do
  [ $SECONDS -gt 470 ] && { echo "ncu skipped at $SECONDS s"; break; }
  tag=$(echo "$knobs" | tr -dc 'a-z0-9' | cut -c1-20); tag=${tag:-defaults}
  in_br timeout 120 $NCU --clock-control none --set full -k "regex:_selected_partials" --launch-skip 7 \
    --launch-count 1 -o "/tmp/ncu_$tag" -f python3 benchmarks/ncu_selected.py --group 4 --knobs "$knobs" 2>&1 | tail -2
  $NCU -i "/tmp/ncu_$tag.ncu-rep" --page source --csv --print-source sass > "/tmp/ncu_${tag}_source.csv" 2>&1
  in_br python3 benchmarks/ncu_stalls.py "/tmp/ncu_${tag}_source.csv" --top 15 | tee "$OUT/ncu_${tag}_stalls.txt"
  $NCU -i "/tmp/ncu_$tag.ncu-rep" --page details > "$OUT/ncu_${tag}_details.txt" 2>&1
  grep -E "Duration|DRAM Throughput|Issue Slots Busy|Registers Per Thread|Achieved Occupancy|L2 Hit Rate|Eligible Warps" "$OUT/ncu_${tag}_details.txt"
done
echo "all done at $SECONDS s"
