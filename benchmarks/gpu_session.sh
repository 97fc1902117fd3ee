#!/usr/bin/env bash
# One lease's worth of GPU work, logs under $OUT:
#   bash benchmarks/gpu_session.sh kernels   # Triton kernel suite in six processes (ci profile)
#   bash benchmarks/gpu_session.sh oracle    # the hypothesis oracles alone, a process per shard
#   bash benchmarks/gpu_session.sh tests     # every triton/cuda test (dev profile) + main job
#   bash benchmarks/gpu_session.sh bench     # main job + benchmarks/run.py --preset quick
#   bash benchmarks/gpu_session.sh all       # the whole test suite too
#   bash benchmarks/gpu_session.sh compile   # torch.compile suite on CUDA (kernel-list snapshot
#                                            # accepted into $OUT/test_compile.py) + recall LM
#   bash benchmarks/gpu_session.sh reliability   # kernel suite, error/numerics/large-tensor
#                                            # tests, in parallel processes
#   bash benchmarks/gpu_session.sh sanitize      # compute-sanitizer + the CUDA compile suite
#   bash benchmarks/gpu_session.sh tune      # tuning sweeps (select_blocks, range and selected
#                                            # backward) in one timing process; kernel suite beside it
#   bash benchmarks/gpu_session.sh profile   # per-kernel time of one NSA layer step at 64K
#   bash benchmarks/gpu_session.sh sweep     # selected fwd/bwd sweeps + select_blocks ablation,
#                                            # one timing process, nothing beside it
#   bash benchmarks/gpu_session.sh explore   # selected fwd / fwd+bwd and layer kernel profiles, then the
#                                            # selected and select_blocks sweeps, one process at a time
#   [WHAT="selected range blocks"] [TESTS=1] bash benchmarks/gpu_session.sh compare   # sweeps of this tree beside
#                                            # the defaults of baseline.tar (`git archive HEAD -o
#                                            # baseline.tar`, ignored by git: carry it), one timing
#                                            # process at a time
#   bash benchmarks/gpu_session.sh atomic    # deterministic=False: selected backward sweep, layer
#                                            # memory both ways, kernel tests of the atomic path
#   bash benchmarks/gpu_session.sh suite     # GPU correctness suites in four processes, then the main job
#   bash benchmarks/gpu_session.sh verify    # long/numerics/large kernel tests + select_blocks
#                                            # sweep + layer profile
#   SEQLENS="8192 16384" [BENCH_GROUPS="16"] bash benchmarks/gpu_session.sh full   # full preset, in parts
#                                            # (--append over benchmarks/results/partial/)
# Wheels missing on the GPU image (expecttest, fla-core) travel in .whl/ (README: GPU runs).
# A fresh machine compiles every kernel once (minutes): keep each call under the 10-minute cap.
set -u
OUT=${OUT:-/tmp/fsa_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '|', torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
what=${1:-tests}
budget=${BUDGET:-540}
# kernel_suites SECONDS SELECTION...: tests/test_kernels.py in parallel processes, one per -k
# selection, each under `timeout SECONDS` (ci profile); then their tails and per-test lines.
kernel_suites() {
  local left=$1 i=0 sel
  shift
  for sel in "$@"; do
    i=$((i + 1))
    HYPOTHESIS_PROFILE=ci timeout "$left" python3 -m pytest tests/test_kernels.py -v -p no:cacheprovider \
      -k "$sel" > "$OUT/pytest_kernels_$i.log" 2>&1 &
  done
  wait
  for f in "$OUT"/pytest_kernels_*.log; do echo "== $f"; tail -n 2 "$f"; done
  grep -h -E "PASSED|FAILED|ERROR" "$OUT"/pytest_kernels_*.log | sed 's/^tests.test_kernels.py:://' | cut -c1-110
}
if [ "$what" = kernels ]; then
  # Compiling the kernels' many specializations is CPU-bound and dominates a fresh machine:
  # six pytest processes share the Triton cache and the 16 cores; the main job runs alongside.
  # (the main job, ~45 GB, runs in `bench`: beside four suites it ran the GPU out of memory)
  # The backward oracle's shards (tests/test_kernels.py ORACLE_SHARDS) in processes of their own.
  kernel_suites "$budget" "backward_kernels_match_oracle and shard0" \
    "backward_kernels_match_oracle and shard1" "backward_kernels_match_oracle and shard2" \
    "test_backward_kernels_long_sequences or packed_long or deterministic or registered or block_index" \
    "test_forward_kernels_match_oracle or select_blocks_geometries" "test_forward_kernels_long_sequences"
fi
if [ "$what" = oracle ]; then
  # The hypothesis oracles alone: every shard of the forward and the backward in its own process.
  kernel_suites "$budget" "forward_kernels_match_oracle and shard0" \
    "forward_kernels_match_oracle and shard1" "forward_kernels_match_oracle and shard2" \
    "backward_kernels_match_oracle and shard0" "backward_kernels_match_oracle and shard1" \
    "backward_kernels_match_oracle and shard2"
fi
if [ "$what" = tune ]; then
  # Timings come from one process at a time; the kernel suite (small shapes) runs beside it.
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "forward" > "$OUT/pytest_kernels_forward.log" 2>&1 &
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "backward_kernels_match_oracle or backward_kernels_long" > "$OUT/pytest_kernels_backward.log" 2>&1 &
  ( timeout 150 python3 benchmarks/sweep_select_blocks.py > "$OUT/sweep_select_blocks.log" 2>&1
    timeout 270 python3 benchmarks/sweep_range.py --backward --groups 4 1 16 > "$OUT/sweep_range_backward.log" 2>&1
    timeout 100 python3 benchmarks/sweep_selected.py --backward > "$OUT/sweep_selected_backward.log" 2>&1 ) &
  wait
  for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 3 "$f"; done
  grep -h -E "^(FAILED|ERROR)" "$OUT"/pytest_*.log | cut -c1-300
  cat "$OUT"/sweep_*.log
fi
if [ "$what" = sweep ]; then
  timeout 230 python3 benchmarks/sweep_selected.py > "$OUT/sweep_selected.log" 2>&1
  timeout 150 python3 benchmarks/sweep_selected.py --backward > "$OUT/sweep_selected_backward.log" 2>&1
  timeout 100 python3 benchmarks/ablate_select_blocks.py > "$OUT/ablate_select_blocks.log" 2>&1
  cat "$OUT"/sweep_selected.log "$OUT"/sweep_selected_backward.log "$OUT"/ablate_select_blocks.log
fi
if [ "$what" = explore ]; then
  timeout 60 python3 benchmarks/profile_layer.py --op selected_fwd --out "$OUT" > "$OUT/profile_selected_fwd.log" 2>&1
  timeout 70 python3 benchmarks/profile_layer.py --op selected --out "$OUT" > "$OUT/profile_selected.log" 2>&1
  timeout 90 python3 benchmarks/profile_layer.py --out "$OUT" > "$OUT/profile_layer.log" 2>&1
  timeout 150 python3 benchmarks/sweep_selected.py > "$OUT/sweep_selected.log" 2>&1
  timeout 150 python3 benchmarks/sweep_selected.py --backward > "$OUT/sweep_selected_backward.log" 2>&1
  timeout 100 python3 benchmarks/sweep_select_blocks.py > "$OUT/sweep_select_blocks.log" 2>&1
  cat "$OUT"/profile_selected_fwd.log "$OUT"/profile_selected.log "$OUT"/profile_layer.log "$OUT"/sweep_*.log
fi
if [ "$what" = compare ]; then
  base=/tmp/fsa_base
  mkdir -p "$base" && tar -xf "${BASE_TAR:-baseline.tar}" -C "$base" && cp benchmarks/sweep_*.py "$base/benchmarks/"
  in_base() { (cd "$base" && PYTHONPATH=/tmp/site "$@"); }
  # WHAT: which sweeps, "selected" (forward and backward), "range" (range forward and
  # backward) and/or "blocks" (select_blocks, with its default indices checked against the
  # baseline's on the same inputs)
  for sweep in ${WHAT:-selected range}; do
    if [ "$sweep" = blocks ]; then
      in_base timeout 200 python3 benchmarks/sweep_select_blocks.py --variants 1 --warm > /dev/null 2>&1 &
      for i in 0 1 2 3 4 5; do
        timeout 200 python3 benchmarks/sweep_select_blocks.py --warm --shard $i/6 > /dev/null 2>&1 &
      done
      wait
      in_base timeout 60 python3 benchmarks/sweep_select_blocks.py --variants 1 --save /tmp/base_blocks.pt \
        > "$OUT/base_sweep_select_blocks.log" 2>&1
      timeout 150 python3 benchmarks/sweep_select_blocks.py --against /tmp/base_blocks.pt \
        > "$OUT/sweep_select_blocks.log" 2>&1
    elif [ "$sweep" = range ]; then
      # Compile first, in parallel processes (Triton's cache is shared), then time one at a time.
      for flag in "" --backward; do
        in_base timeout 200 python3 benchmarks/sweep_range.py $flag --variants 1 --warm > /dev/null 2>&1 &
        for i in 0 1 2 3; do
          timeout 200 python3 benchmarks/sweep_range.py $flag --warm --shard $i/4 > /dev/null 2>&1 &
        done
      done
      wait
      for flag in "" --backward; do
        in_base timeout 60 python3 benchmarks/sweep_range.py $flag --variants 1 >> "$OUT/base_sweep_range.log" 2>&1
        timeout 150 python3 benchmarks/sweep_range.py $flag >> "$OUT/sweep_range.log" 2>&1
      done
    else
      in_base timeout 60 python3 benchmarks/sweep_selected.py --variants 1 > "$OUT/base_sweep_selected.log" 2>&1
      timeout 120 python3 benchmarks/sweep_selected.py > "$OUT/sweep_selected.log" 2>&1
      in_base timeout 60 python3 benchmarks/sweep_selected.py --backward --variants 1 > "$OUT/base_sweep_selected_backward.log" 2>&1
      timeout 120 python3 benchmarks/sweep_selected.py --backward > "$OUT/sweep_selected_backward.log" 2>&1
    fi
  done
  tail -n 50 "$OUT"/base_sweep_*.log "$OUT"/sweep_*.log
  if [ -n "${TESTS:-}" ]; then
    # The rest of the call: the kernel suite on this tree in four processes, the numerics
    # and large-tensor suites in a fifth.
    HYPOTHESIS_PROFILE=ci timeout $((budget - SECONDS - 15)) python3 -m pytest tests/test_large.py \
      tests/test_numerics.py -v -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1 &
    kernel_suites $((budget - SECONDS - 15)) \
      "small_tiles or small_chunks or exact_ties or block_index or packed_long or deterministic or registered" \
      "test_forward_kernels_long_sequences" "test_backward_kernels_long_sequences" \
      "match_oracle or select_blocks_geometries"       # (its wait covers the fifth too)
    echo "== $OUT/pytest_large_numerics.log"; tail -n 1 "$OUT/pytest_large_numerics.log"
    grep -E "FAILED|ERROR" "$OUT/pytest_large_numerics.log" | cut -c1-100
  fi
fi
if [ "$what" = atomic ]; then
  # deterministic=False: the selected backward beside the default, the layer's memory both
  # ways (one timing process at a time), then the GPU kernel tests that check the atomic path
  # against the oracle, in three processes.
  timeout 150 python3 benchmarks/sweep_selected.py --backward --variants 2 > "$OUT/sweep_selected_backward.log" 2>&1
  timeout 150 python3 benchmarks/memory_layer.py --groups 4 16 --nondeterministic > "$OUT/memory_layer.log" 2>&1
  cat "$OUT/sweep_selected_backward.log" "$OUT/memory_layer.log"
  kernel_suites $((budget - SECONDS - 20)) "backward_kernels_long or packed_long" \
    "deterministic or registered or block_index" "test_backward_kernels_match_oracle"
fi
if [ "$what" = profile ]; then
  timeout "$budget" python3 benchmarks/profile_layer.py --seqlen 65536 --groups 1 4 16 --out "$OUT" 2>&1 | tail -60
fi
if [ "$what" = verify ]; then
  # After a kernel change: the kernel suite's long cases, numerics and the >2^31 case beside a
  # select_blocks sweep and a layer profile (timings perturbed by the tests: not claims).
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "forward" > "$OUT/pytest_kernels_forward.log" 2>&1 &
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "backward_kernels_long or packed_long" > "$OUT/pytest_kernels_backward_long.log" 2>&1 &
  HYPOTHESIS_PROFILE=dev timeout "$budget" python3 -m pytest tests/test_numerics.py tests/test_large.py -q \
    -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_numerics_large.log" 2>&1 &
  ( timeout 200 python3 benchmarks/sweep_select_blocks.py > "$OUT/sweep_select_blocks.log" 2>&1
    timeout 200 python3 benchmarks/profile_layer.py --seqlen 65536 --groups 1 4 16 --out "$OUT" \
      > "$OUT/profile.log" 2>&1 ) &
  wait
  for f in "$OUT"/pytest_*.log; do echo "== $f"; tail -n 3 "$f"; done
  grep -h -E "^(FAILED|ERROR)" "$OUT"/pytest_*.log | cut -c1-300
  cat "$OUT/sweep_select_blocks.log" "$OUT/profile.log"
fi
if [ "$what" = suite ]; then
  # After a kernel change, correctness only (no timing): four processes over the GPU suites;
  # the main job after the oracle suites.
  ( HYPOTHESIS_PROFILE=ci timeout $((budget - 60)) python3 -m pytest tests/test_large.py tests/test_numerics.py \
      -v -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_large_numerics.log" 2>&1
    timeout 50 python3 -m fsa_ops > "$OUT/main_job.log" 2>&1 ) &
  kernel_suites "$budget" "test_forward_kernels_long_sequences" "test_backward_kernels_long_sequences" \
    "match_oracle or small_tiles"          # (its wait covers the process above too)
  echo "== $OUT/pytest_large_numerics.log"; tail -n 1 "$OUT/pytest_large_numerics.log"
  grep -E "FAILED|ERROR" "$OUT/pytest_large_numerics.log" | cut -c1-100
  tail -n 4 "$OUT/main_job.log"
fi
if [ "$what" = reliability ]; then
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "match_oracle" > "$OUT/pytest_kernels_oracle.log" 2>&1 &
  HYPOTHESIS_PROFILE=ci timeout "$budget" python3 -m pytest tests/test_kernels.py -q -p no:cacheprovider \
    -k "not match_oracle" > "$OUT/pytest_kernels_long.log" 2>&1 &
  HYPOTHESIS_PROFILE=dev timeout "$budget" python3 -m pytest tests/test_errors.py tests/test_numerics.py \
    -q -p no:cacheprovider -m "triton or cuda" > "$OUT/pytest_errors_numerics.log" 2>&1 &
  timeout "$budget" python3 -m pytest tests/test_large.py -v -p no:cacheprovider > "$OUT/pytest_large.log" 2>&1 &
  wait
  for f in "$OUT"/pytest_*.log; do echo "== $f"; grep -E "passed|failed|error" "$f" | tail -2; done
  grep -h -E "^(FAILED|ERROR)" "$OUT"/pytest_*.log | cut -c1-200
fi
if [ "$what" = sanitize ]; then
  # compute-sanitizer over every kernel (scripts/sanitize.sh), and the CUDA compile suite
  # (no host sync, CUDA graphs, dynamic shapes) alongside.
  timeout 400 python3 -m pytest tests/test_compile.py -q -p no:cacheprovider -m cuda \
    > "$OUT/pytest_compile_cuda.log" 2>&1 &
  SAN_TIMEOUT=${SAN_TIMEOUT:-230} bash scripts/sanitize.sh
  wait
  tail -n 3 "$OUT/pytest_compile_cuda.log"
fi
if [ "$what" = tests ] || [ "$what" = all ]; then
  HYPOTHESIS_PROFILE=dev timeout 420 python3 -m pytest tests -q -m "triton or cuda" -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu.log" | tail -25
fi
if [ "$what" = tests ] || [ "$what" = bench ]; then
  timeout 120 python3 -m fsa_ops 2>&1 | tee "$OUT/main_job.log"
fi
if [ "$what" = all ]; then
  HYPOTHESIS_PROFILE=ci timeout 400 python3 -m pytest tests -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest_all.log" | tail -8
fi
if [ "$what" = bench ]; then
  timeout $((budget - 120)) python3 benchmarks/run.py --preset quick --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | tail -60
fi
if [ "$what" = compile ]; then
  # The recall LM trains alongside the compile suite (its timing is not a claim).
  timeout "$budget" python3 benchmarks/train_recall.py --preset gpu --out "$OUT/train" \
    > "$OUT/train_recall.log" 2>&1 &
  EXPECTTEST_ACCEPT=1 timeout 300 python3 -m pytest tests/test_compile.py -q -p no:cacheprovider \
    -k kernel_list_cuda 2>&1 | tee "$OUT/pytest_compile_accept.log" | tail -5
  cp tests/test_compile.py "$OUT/test_compile.py"
  timeout 400 python3 -m pytest tests/test_compile.py -v -p no:cacheprovider -m cuda 2>&1 \
    | tee "$OUT/pytest_compile.log" | grep -E "PASSED|FAILED|ERROR|passed|failed" | cut -c1-150
  wait
  tail -n 6 "$OUT/train_recall.log"
fi
if [ "$what" = full ]; then
  mkdir -p "$OUT/bench"
  [ -f benchmarks/results/partial/latest.json ] && cp benchmarks/results/partial/latest.json "$OUT/bench/"
  timeout "$budget" python3 benchmarks/run.py --preset full --seqlens ${SEQLENS} ${BENCH_GROUPS:+--groups ${BENCH_GROUPS}} --append \
    --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | tail -40
fi
