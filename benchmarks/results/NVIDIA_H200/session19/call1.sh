#!/usr/bin/env bash
# Session 19, call 1 (data): Nsight Compute on select_blocks at G = 4 and 16; select_blocks
# ablation at G = 16 and 1; per-kernel layer profile at G = 4 and 16; warp-specialization probe;
# the 1000-token float32 backward long cases session 18 did not reach.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())"
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1); echo "ncu: $NCU"
L=$OUT/logs; mkdir -p $L
HYPOTHESIS_PROFILE=ci timeout 400 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "test_backward_kernels_long_sequences and 1000- and float32" > $L/pytest_bwd_long1000_f32.log 2>&1 &
prof() {  # prof NAME GROUP
  timeout 170 $NCU --clock-control none --set full --import-source yes -k "regex:_select_blocks_fwd" --launch-skip 1 --launch-count 1 \
    -o "$L/$1" -f python3 benchmarks/ncu_selected.py --select-blocks --group $2 > "$L/$1.log" 2>&1
  $NCU -i "$L/$1.ncu-rep" --page details --print-details all > "$L/${1}_details.txt" 2>&1
  $NCU -i "$L/$1.ncu-rep" --page source --csv --print-source sass > "$L/${1}_source.csv" 2>&1
  python3 benchmarks/ncu_stalls.py "$L/${1}_source.csv" --top 40 > "$L/${1}_stalls.txt" 2>&1
  rm -f "$L/$1.ncu-rep"; echo "$1 done at $SECONDS s"
}
prof ncu_blocks_g4 4
prof ncu_blocks_g16 16
timeout 120 python3 scratch/ws_probe.py 2>&1 | tee $L/ws_probe.log
timeout 150 python3 benchmarks/ablate_select_blocks.py --groups 16 1 --variants shipped no_topn one_product 2>&1 | tee $L/ablate_select_blocks.log
timeout 120 python3 benchmarks/profile_layer.py --groups 4 16 2>&1 | tee $L/profile_layer.log
wait
tail -n 3 $L/pytest_bwd_long1000_f32.log
grep -h -E "FAILED|ERROR" $L/pytest_*.log | head
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
