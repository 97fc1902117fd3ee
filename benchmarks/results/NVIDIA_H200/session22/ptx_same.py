"""Hash the sm_90a PTX (debug lines dropped) of select_blocks and the kernels using sort_rows."""
import hashlib, re, sys
sys.path.insert(0, "tests")
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from test_kernels_compile import signature
from fsa_ops.kernels.select_blocks import _select_blocks_fwd
from fsa_ops.kernels.selected_attention import _index_entries

cases = []
for g, d, fill, span, half, srt, paired in ((1, 128, True, 16, True, False, False),
                                            (4, 128, True, 16, True, False, False),
                                            (4, 128, True, 16, True, True, True),
                                            (8, 128, True, 16, True, True, False),
                                            (16, 128, True, 16, True, True, True),
                                            (16, 64, False, 16, False, True, True),
                                            (16, 64, False, 16, False, False, False)):
    cases.append((_select_blocks_fwd, dict(G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
        BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), KEYS=64, BLOCK_B=16,
        BLOCK_D=triton.next_power_of_2(d), NP=16, FILL=fill, SPAN=span, SORTED=srt,
        PAIRED_TOP=paired, UPCAST=False, IEEE=False, SPLIT_UPCAST=False, HALF=half)))
cases.append((_index_entries, dict(NP=16, BLOCK_T=32)))
cases.append((_index_entries, dict(NP=8, BLOCK_T=64)))
for kernel, cx in cases:
    src = ASTSource(kernel, signature(kernel, cx, "bf16"), constexprs=cx)
    ptx = triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm["ptx"]
    body = "\n".join(l for l in ptx.splitlines()
                     if not re.match(r"\s*(\.loc|\.file|//|\$L__(tmp|func_end|info))", l))
    body = body.split(".section\t.debug")[0]
    print(kernel.__name__, {k: v for k, v in cx.items() if k in ("G", "SORTED", "PAIRED_TOP", "FILL", "NP")},
          hashlib.sha1(body.encode()).hexdigest()[:12], len(body))
