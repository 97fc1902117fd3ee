#!/usr/bin/env bash
# Session 20, call 3: the torch.compile / export / AOTI suite on the GPU image (AOTI now in a
# subprocess probe for CPU too: loading crashed the pytest process in calls 2 and session 14).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
timeout 420 python3 -m pytest -v -rs -p no:cacheprovider tests/test_compile.py -k "not kernel_list and not recall" > $OUT/pytest_compile.log 2>&1 &
timeout 420 python3 -m pytest -v -p no:cacheprovider tests/test_module.py > $OUT/pytest_module.log 2>&1 &
wait
grep -h -E "PASSED|FAILED|SKIPPED|ERROR" $OUT/pytest_*.log | cut -c1-200
tail -n 2 $OUT/pytest_compile.log $OUT/pytest_module.log
echo "all done at $SECONDS s"
