#!/usr/bin/env bash
# Session 27, call 4: the module / compile / numerics GPU tests that call 3 cut at 240 s.
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
t() { local name=$1; shift; HYPOTHESIS_PROFILE=ci timeout 300 python3 -m pytest -v -p no:cacheprovider "$@" > $OUT/$name.log 2>&1; }
t m1 tests/test_module.py &
t m2 tests/test_compile.py -k "kernel_list_cuda or dynamic_lengths_compile_once_cuda" &
t m3 tests/test_compile.py -k "training_step or export_cuda" &
t n1 tests/test_numerics.py -k "short_sequences" &
t n2 tests/test_numerics.py -k "thousand or every_token" &
wait
for f in $OUT/m?.log $OUT/n?.log; do echo "== $f: $(tail -n 1 $f | cut -c1-150)"; done
grep -h -E "PASSED|FAILED|ERROR" $OUT/m?.log $OUT/n?.log | cut -c1-160
echo "done at $SECONDS s"
