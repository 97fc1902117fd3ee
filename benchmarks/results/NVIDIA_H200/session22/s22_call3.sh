#!/usr/bin/env bash
# Session 22, call 3: (1) the CUDA kernel-list snapshot alone, as is and (in a copy of the
# tree) accepted, beside long backward cases the last call's 470 s did not reach; (2) then,
# alone, the harness at 64K, G = 4, merged into the committed latest.json (--append).
set -u
OUT=${OUT:-/tmp/fsa_out}; mkdir -p "$OUT"; export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
L=$OUT/logs; mkdir -p $L
timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k kernel_list_cuda > $L/pytest_kernel_list.log 2>&1 &
rm -rf /tmp/acc && mkdir /tmp/acc && cp -r fsa_ops fake_impls lowering tests benchmarks pyproject.toml /tmp/acc/
(cd /tmp/acc && PYTHONPATH=/tmp/site:/tmp/acc EXPECTTEST_ACCEPT=1 timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_compile.py -k kernel_list_cuda > $L/pytest_kernel_list_accept.log 2>&1; cp tests/test_compile.py $OUT/test_compile_accepted.py) &
HYPOTHESIS_PROFILE=ci timeout 250 python3 -m pytest -v -p no:cacheprovider tests/test_kernels.py -k "backward_kernels_long_sequences and (16384 or 4099-16-bfloat16 or 4099-4-bfloat16)" > $L/pytest_bwd_long.log 2>&1 &
wait; echo "tests done at $SECONDS s"
mkdir -p $OUT/bench && cp benchmarks/results/NVIDIA_H200/latest.json $OUT/bench/
timeout 330 python3 benchmarks/run.py --seqlens 65536 --groups 4 --out $OUT/bench --append > $L/bench_g4.log 2>&1
echo "bench done at $SECONDS s"
for f in $L/pytest_*.log; do echo "== $f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed; $(tail -n 1 $f | cut -c1-150)"; done
diff <(sed -n '/def test_compiled_layer_kernel_list_cuda/,/^def /p' tests/test_compile.py) <(sed -n '/def test_compiled_layer_kernel_list_cuda/,/^def /p' $OUT/test_compile_accepted.py) | head -60
grep -E "^\| 65536 \| 4 " $L/bench_g4.log | head -20
(cd $OUT && tar -czf logs.tar.gz logs && rm -rf logs)
