#!/usr/bin/env bash
# Session 22, call 2: GPU suites on the committed tree (direct dK/dV adds in the selected
# backward): backward oracle shards, long backward cases, bitwise determinism, packed long,
# mask boundaries (backward knobs), piece slots, module tests, compiled training step (host
# sync, CUDA graphs, CUDA kernel list), main job. Parallel processes, 470 s each.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
git log --oneline -1 > $L/commit.txt 2>&1
t() { name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 470 python3 -m pytest -v -p no:cacheprovider "$@" > $L/pytest_$name.log 2>&1; }
for s in 0 1 2; do t bwd_oracle$s tests/test_kernels.py -k "backward_kernels_match_oracle and shard$s" & done
t bwd_long_1000 tests/test_kernels.py -k "backward_kernels_long_sequences and not 4099 and not 16384" &
t bwd_long_4099 tests/test_kernels.py -k "backward_kernels_long_sequences and (4099 or 16384)" &
t misc tests/test_kernels.py -k "deterministic or packed_long or mask_boundaries or piece_slots or block_index" &
t module tests/test_module.py &
t compile tests/test_compile.py -k "host_sync or cuda_graphs or kernel_list_cuda" &
timeout 300 python3 -m fsa_ops > $L/main_job.log 2>&1 &
wait; echo "done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "FAILED|Error" $L/pytest_*.log | cut -c1-200 | head -20
tail -n 2 $L/main_job.log
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
echo "all done at $SECONDS s"
