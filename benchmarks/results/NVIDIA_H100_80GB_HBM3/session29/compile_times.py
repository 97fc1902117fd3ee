"""ptxas compile times of test_kernels_compile's float32 cases for sm_90, no GPU needed (session
29). Run from the repository root, once per mode, each with a fresh Triton cache:

    for m in ieee tf32x3; do rm -rf /tmp/tc_$m; FSA_FLOAT32_DOT=$m TRITON_CACHE_DIR=/tmp/tc_$m \
      PYTHONPATH=$PWD python benchmarks/results/NVIDIA_H100_80GB_HBM3/session29/compile_times.py \
      _range_attention_fwd _range_attention_bwd_dkdv _range_attention_bwd_dq \
      _selected_bwd_chunks _selected_partials _selected_bwd_dq; done

(FSA_FLOAT32_DOT needs tf32x3.patch; without it both runs are "ieee".)
"""
import sys, time, os
sys.path.insert(0, "tests")
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import test_kernels_compile as T
import fsa_ops.kernels.common as C
print("FLOAT32_DOT", getattr(C, "FLOAT32_DOT", "ieee (no patch)"), flush=True)
for kernel, cx in T.CASES:
    name = kernel.__name__
    if name not in sys.argv[1:]: continue
    c = dict(cx)
    if "IEEE" in c: c["IEEE"] = True
    t0 = time.time()
    triton.compile(ASTSource(kernel, T.signature(kernel, c, "fp32"), constexprs=c), target=GPUTarget("cuda", 90, 32))
    print(f"{name} G={c.get('G')} D={c.get('HEAD_DIM')} {time.time()-t0:.1f} s", flush=True)
