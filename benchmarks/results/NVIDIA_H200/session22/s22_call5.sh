#!/usr/bin/env bash
# Session 22, call 5: the accepted CUDA kernel-list snapshot (shape padding off) in two fresh
# processes with Inductor's caches disabled (every compile from scratch).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
for i in 1 2; do
  TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 timeout 150 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k kernel_list_cuda > $L/pytest_nocache$i.log 2>&1
done
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
