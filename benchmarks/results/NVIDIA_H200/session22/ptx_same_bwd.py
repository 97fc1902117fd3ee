"""Hash the sm_90a PTX (debug lines dropped) of the kernels that call _load_block."""
import hashlib, re, sys
sys.path.insert(0, "tests")
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from test_kernels_compile import CASES, signature
from fsa_ops.kernels.selected_attention import _selected_bwd_chunks, _selected_partials, _partials_and_merge

for kernel, cx in CASES:
    if kernel not in (_selected_bwd_chunks, _selected_partials, _partials_and_merge):
        continue
    for dtype in ("bf16", "fp32"):
        c = {**cx, "IEEE": dtype == "fp32"} if "IEEE" in cx else cx
        src = ASTSource(kernel, signature(kernel, c, dtype), constexprs=c)
        ptx = triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm["ptx"]
        body = "\n".join(l for l in ptx.splitlines()
                         if not re.match(r"\s*(\.loc|\.file|//|\$L__(tmp|func_end|info))", l))
        body = body.split(".section\t.debug")[0]
        print(kernel.__name__, dtype, {k: v for k, v in c.items() if k in ("G", "ATOMIC", "HALVES", "HEAD_DIM")},
              hashlib.sha1(body.encode()).hexdigest()[:12], len(body), flush=True)
