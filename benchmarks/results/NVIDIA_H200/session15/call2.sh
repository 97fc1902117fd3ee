#!/usr/bin/env bash
# Session 15, call 2 (main with next/partials-stores merged): the hypothesis oracles (six
# shards) while the sweeps compile; then Nsight Compute on the G = 4 forward's last-chunk
# partials and merge kernels; then the forward's defaults against normalize+always_mask.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
COMBO="--variants 8 --shard 7/8"      # FORWARD[7]: normalize_partials + always_mask
mkdir -p "$OUT/oracle"
(OUT="$OUT/oracle" BUDGET=320 bash benchmarks/gpu_session.sh oracle > "$OUT/oracle.log" 2>&1) & oracle=$!
timeout 200 python3 benchmarks/sweep_selected.py --variants 1 --warm > /dev/null 2>&1 &
timeout 200 python3 benchmarks/sweep_selected.py $COMBO --warm > /dev/null 2>&1 &
wait; echo "oracles and warm done at $SECONDS s"; tail -40 "$OUT/oracle.log"
name=ncu_fwd_g4
timeout 150 $NCU --clock-control none --set full -k "regex:_selected_partials|_merge_partials" --launch-skip 14 \
  --launch-count 2 -o "/tmp/$name" -f python3 benchmarks/ncu_selected.py --group 4 2>&1 | tail -4
$NCU -i "/tmp/$name.ncu-rep" --page details --print-details all > "$OUT/${name}_details.txt" 2>&1
$NCU -i "/tmp/$name.ncu-rep" --page source --csv --print-source sass > "$OUT/${name}_source.csv" 2>&1
wc -c "$OUT"/ncu*; echo "ncu done at $SECONDS s"
for r in 1 2; do
  timeout 60 python3 benchmarks/sweep_selected.py --variants 1
  timeout 60 python3 benchmarks/sweep_selected.py $COMBO
done
(cd "$OUT" && tar -czf oracle_logs.tar.gz oracle oracle.log && rm -rf oracle oracle.log)
echo "all done at $SECONDS s"
