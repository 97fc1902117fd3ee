#!/usr/bin/env bash
# Session 22, call 4: the CUDA kernel-list snapshot with shape padding off: accepted in a copy
# of the tree, then that snapshot checked in two fresh processes (stable run to run?).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
L=$OUT/logs; mkdir -p $L
rm -rf /tmp/acc && mkdir /tmp/acc && cp -r fsa_ops fake_impls lowering tests benchmarks pyproject.toml /tmp/acc/
cd /tmp/acc
PYTHONPATH=/tmp/site:/tmp/acc EXPECTTEST_ACCEPT=1 timeout 150 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k kernel_list_cuda > $L/pytest_accept.log 2>&1
cp tests/test_compile.py $OUT/test_compile_accepted.py
for i in 1 2; do
  PYTHONPATH=/tmp/site:/tmp/acc timeout 150 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k kernel_list_cuda > $L/pytest_check$i.log 2>&1
done
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
echo "done at $SECONDS s"
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
