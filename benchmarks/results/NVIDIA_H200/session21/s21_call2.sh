#!/usr/bin/env bash
# Session 21, call 2: select_blocks GPU tests on the committed tree (sorted rounds at G >= 8);
# window forward variants; Nsight Compute of the window and compressed forwards at G = 4.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
HYPOTHESIS_PROFILE=ci timeout 300 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "select_blocks or split_dot or forward_kernels_match_oracle" > $L/pytest_select.log 2>&1 &
timeout 200 python3 benchmarks/sweep_range.py --modes window --groups 4 16 --variants 5 > $L/sweep_window_fwd.log 2>&1
cat $L/sweep_window_fwd.log
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1); echo "ncu: $NCU"
prof() {
  timeout 150 $NCU --clock-control none --set full -k regex:_range_attention_fwd --launch-skip 1 --launch-count 1 \
    -o "$L/$1" -f python3 scratch/range_fwd_once.py $1 > "$L/$1.log" 2>&1
  $NCU -i "$L/$1.ncu-rep" --page details --print-details all > "$L/${1}_details.txt" 2>&1
  $NCU -i "$L/$1.ncu-rep" --page source --csv --print-source sass > "$L/${1}_source.csv" 2>&1
  python3 benchmarks/ncu_stalls.py "$L/${1}_source.csv" --top 30 > "$L/${1}_stalls.txt" 2>&1
  rm -f "$L/$1.ncu-rep" "$L/${1}_source.csv"; echo "$1 done at $SECONDS s"
}
prof window; prof compressed
wait
tail -n 1 $L/pytest_select.log; grep -h -E "FAILED|ERROR" $L/pytest_*.log | cut -c1-200 | head
grep -E "Duration|Memory Throughput|DRAM Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Theoretical Occupancy|Executed Ipc A" $L/window_details.txt $L/compressed_details.txt
head -12 $L/window_stalls.txt; head -12 $L/compressed_stalls.txt
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
