#!/usr/bin/env bash
# Session 15, call 1: warm caches; Nsight Compute on the G = 4 forward's last-chunk partials and
# merge kernels and the backward's piece kernel (main); then branch next/partials-stores
# (scratch/branch.tar) against main's defaults, and main's normalize+always_mask, one timing
# process at a time.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1); echo "ncu: $NCU"; $NCU --version | tail -1
br=/tmp/fsa_branch; mkdir -p $br && tar -xf scratch/branch.tar -C $br && cp benchmarks/sweep_*.py $br/benchmarks/
in_br() { (cd "$br" && PYTHONPATH=/tmp/site "$@"); }
COMBO="--variants 8 --shard 7/8"      # FORWARD[7]: normalize_partials + always_mask
pids=""
for flag in "" --backward; do
  in_br timeout 200 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="$pids $!"
  timeout 200 python3 benchmarks/sweep_selected.py $flag --variants 1 --warm > /dev/null 2>&1 & pids="$pids $!"
done
timeout 200 python3 benchmarks/sweep_selected.py $COMBO --warm > /dev/null 2>&1 & pids="$pids $!"
wait $pids; echo "warm done at $SECONDS s"
prof() {  # prof NAME REGEX SKIP COUNT ARGS...
  local name=$1 regex=$2 skip=$3 count=$4; shift 4
  timeout 150 $NCU --clock-control none --set full -k "regex:$regex" --launch-skip $skip --launch-count $count \
    -o "$OUT/$name" -f python3 benchmarks/ncu_selected.py "$@" > "$OUT/$name.log" 2>&1
  tail -5 "$OUT/$name.log"
  $NCU -i "$OUT/$name.ncu-rep" --page details --print-details all > "$OUT/${name}_details.txt" 2>&1
  $NCU -i "$OUT/$name.ncu-rep" --page raw --csv > "$OUT/${name}_raw.csv" 2>&1
  $NCU -i "$OUT/$name.ncu-rep" --page source --csv --print-source sass > "$OUT/${name}_source.csv" 2>&1
  wc -c "$OUT/$name"*; echo "$name done at $SECONDS s"
}
prof ncu_fwd_g4 "_selected_partials|_merge_partials" 14 2 --group 4
cat "$OUT/ncu_fwd_g4_details.txt" | head -400
prof ncu_bwd_g4 "_selected_bwd_chunks" 7 1 --group 4 --backward
for flag in "" --backward; do for r in 1 2; do
  [ $SECONDS -gt 520 ] && break
  in_br timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/branch.log" 2>&1
  timeout 60 python3 benchmarks/sweep_selected.py $flag --variants 1 >> "$OUT/main.log" 2>&1
  [ -z "$flag" ] && timeout 60 python3 benchmarks/sweep_selected.py $COMBO >> "$OUT/main_combo.log" 2>&1
done; done
echo "== branch"; cat "$OUT/branch.log"; echo "== main"; cat "$OUT/main.log"; echo "== main combo"; cat "$OUT/main_combo.log"
echo "all done at $SECONDS s"
