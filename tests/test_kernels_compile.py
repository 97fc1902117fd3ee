"""Every Triton kernel compiles for Hopper (sm_90) — checked on the CPU, no GPU needed.

The interpreter accepts things the compiler refuses (non-constexpr globals, some type mixes);
this catches them in CI before a GPU lease is spent on them.
"""

import pytest
import torch

triton = pytest.importorskip("triton")
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from fsa_ops.kernels.gated_combine import _gated_combine_fwd  # noqa: E402
from fsa_ops.kernels.range_attention import _range_attention_fwd  # noqa: E402
from fsa_ops.kernels.select_blocks import _select_blocks_fwd  # noqa: E402
from fsa_ops.kernels.selected_attention import _merge_partials, _selected_partials  # noqa: E402

FLOAT_POINTERS = {"LSE", "LSE_PART"}
INT_OUTPUTS = {"_select_blocks_fwd": {"OUT"}}
INT_POINTERS = {"ROW_SEQ", "CU_Q", "CU_K", "SELECTION", "ORDER", "GROUP_END", "TILE_GROUP", "TILE_FIRST"}


def signature(kernel, constexprs, dtype):
    sig = {}
    for name in kernel.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in FLOAT_POINTERS:
            sig[name] = "*fp32"
        elif name in INT_POINTERS or name in INT_OUTPUTS.get(kernel.__name__, ()):
            sig[name] = "*i32"
        elif name.isupper():
            sig[name] = "*" + dtype
        elif name.startswith("scale"):
            sig[name] = "fp32"
        else:
            sig[name] = "i32"
    return sig


CASES = [
    (_range_attention_fwd, dict(MODE=mode, G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                                BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), BLOCK_N=64,
                                BLOCK_D=triton.next_power_of_2(d), UPCAST=False, IEEE=False))
    for mode in (0, 1) for g, d in ((1, 128), (5, 80), (16, 256))
] + [
    (_selected_partials, dict(G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                              BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), BLOCK_N=64,
                              BLOCK_D=triton.next_power_of_2(d), UPCAST=False, IEEE=False))
    for g, d in ((1, 128), (3, 64), (16, 128))
] + [
    (_select_blocks_fwd, dict(G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                              BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), BLOCK_B=16,
                              BLOCK_D=triton.next_power_of_2(d), K_PER=6, NP=16, UPCAST=False,
                              IEEE=False))
    for g, d in ((1, 128), (16, 64))
] + [
    (_merge_partials, dict(G=4, HEAD_DIM=128, BLOCK_T=32, BLOCK_D=128)),
    (_gated_combine_fwd, dict(HEAD_DIM=128, BLOCK_R=32, BLOCK_D=128)),
]


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize("kernel,constexprs", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_kernel_compiles_for_sm90(kernel, constexprs, dtype):
    if "IEEE" in constexprs:
        constexprs = {**constexprs, "IEEE": dtype == "fp32"}
    src = ASTSource(kernel, signature(kernel, constexprs, dtype), constexprs=constexprs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32))
    assert "cubin" in compiled.asm
