#!/usr/bin/env bash
# Session 21, call 4: sorted rounds with two slots a thread (_slot_above: pairs split, one
# gather of n/2 columns) against plain, G = 1, 2, 4, 8, 16; select_blocks GPU tests; if sorted
# wins at G = 4, the SPEC §6 harness at G = 4.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
PICK="--pick 0 12 13"
for i in 0 1 2; do timeout 150 python3 benchmarks/sweep_select_blocks.py $PICK --groups 1 2 4 8 16 --shard $i/3 --warm > $L/warm_$i.log 2>&1 & done
HYPOTHESIS_PROFILE=ci timeout 200 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "select_blocks or split_dot" > $L/pytest_select.log 2>&1 &
wait; echo "warm + tests at $SECONDS s"
for r in 1 2; do timeout 120 python3 benchmarks/sweep_select_blocks.py $PICK --groups 4 16 1 2 8 2>&1 | tee -a $L/sweep_select_blocks.log; done
tail -n 1 $L/pytest_select.log; grep -h -E "FAILED|ERROR" $L/pytest_*.log | cut -c1-200 | head
srt=$(grep "^G=4 .*sorted_topn': True" $L/sweep_select_blocks.log | tail -1 | grep -o '[0-9.]* ms' | awk '{print $1}')
pl=$(grep "^G=4 .*sorted_topn': False" $L/sweep_select_blocks.log | tail -1 | grep -o '[0-9.]* ms' | awk '{print $1}')
echo "G=4 sorted $srt plain $pl at $SECONDS s"
if python3 -c "import sys; sys.exit(0 if float('$srt') < float('$pl') else 1)"; then
  timeout $((560 - SECONDS)) python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench > $L/bench_g4.log 2>&1
  tail -n 12 $OUT/bench/latest.md
fi
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
