"""Every Triton kernel compiles for Hopper (sm_90) — checked on the CPU, no GPU needed.

The interpreter accepts things the compiler refuses (non-constexpr globals, some type mixes);
this catches them in CI before a GPU lease is spent on them.
"""

import pytest
import torch

triton = pytest.importorskip("triton")
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from fsa_ops.kernels.common import _row_dot  # noqa: E402
from fsa_ops.kernels.gated_combine import _gated_combine_bwd, _gated_combine_fwd  # noqa: E402
from fsa_ops.kernels.range_attention import (  # noqa: E402
    _range_attention_bwd_dkdv, _range_attention_bwd_dq, _range_attention_fwd)
from fsa_ops.kernels.select_blocks import _select_blocks_fwd  # noqa: E402
from fsa_ops.kernels.selected_attention import (  # noqa: E402
    _index_entries, _index_finish, _merge_partials, _partials_and_merge, _selected_bwd_chunks,
    _selected_bwd_dkdv, _selected_bwd_dq, _selected_partials, _work_pieces, _work_scan)

FLOAT_POINTERS = {"LSE", "PART_STATS", "PART_STATS_PREV", "DELTA", "DK_PART", "DV_PART", "DK_SUM", "DV_SUM"}
FLOAT_OUTPUTS = {"_row_dot": {"OUT"}}
INT_OUTPUTS = {"_select_blocks_fwd": {"OUT"}}
INT_POINTERS = {"ROW_SEQ", "CU_Q", "CU_K", "SELECTION", "ORDER", "GROUP_END", "WORK_GROUP",
                "WORK_FIRST", "CHUNK_START", "PIECE_END", "PART_END", "PART_START", "KEY_SEQ",
                "GROUP_SEQ", "GROUP_BLOCK", "INDICES", "SEQ_BASE", "SEQ_BLOCKS", "SEQ_END", "KEYS", "FLAT",
                "SLOT_END", "SLOT_CHUNK_START"}
INT64_POINTERS = {"FLAT_ORDER"}


def signature(kernel, constexprs, dtype):
    sig = {}
    for name in kernel.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif (name in FLOAT_POINTERS or name in FLOAT_OUTPUTS.get(kernel.__name__, ())
              or (name == "DQ_PART" and constexprs.get("ATOMIC"))):   # float32 accumulator
            sig[name] = "*fp32"
        elif name in INT_POINTERS or name in INT_OUTPUTS.get(kernel.__name__, ()):
            sig[name] = "*i32"
        elif name in INT64_POINTERS:
            sig[name] = "*i64"
        elif name.isupper():
            sig[name] = "*" + dtype
        elif name.startswith("scale"):
            sig[name] = "fp32"
        else:
            sig[name] = "i32"
    return sig


def row_tiled(g, d, **extra):
    """Constexprs of a kernel tiled like range_attention (G heads x BLOCK_T tokens)."""
    gp = triton.next_power_of_2(g)
    return dict(G=g, GP=gp, HEAD_DIM=d, BLOCK_T=max(1, 64 // gp), BLOCK_D=triton.next_power_of_2(d),
                UPCAST=False, IEEE=False, **extra)


# Backward kernels take ~10 s each to compile on a 2-core CI machine: a few shapes each.
CASES = [
    (kernel, row_tiled(g, d, MODE=mode, BLOCK_N=bn))
    for kernel in (_range_attention_bwd_dkdv, _range_attention_bwd_dq)
    for mode, g, d, bn in ((0, 1, 128, 64), (1, 5, 256, 32))
] + [
    (_selected_bwd_chunks, row_tiled(16, 128, BLOCK_N=64, NUM_SELECTED=16, ATOMIC=False,
                                     HALVES=False)),
    (_selected_bwd_chunks, row_tiled(4, 128, BLOCK_N=64, NUM_SELECTED=16, ATOMIC=True,
                                     HALVES=False)),                          # deterministic=False
    (_selected_bwd_chunks, row_tiled(4, 80, BLOCK_N=64, NUM_SELECTED=16, ATOMIC=False,
                                     HALVES=True)),                           # split_head_dim
] + [
    (_selected_bwd_dq, dict(G=4, HEAD_DIM=128, BLOCK_T=16, BLOCK_D=128, UNROLL=4)),
    (_selected_bwd_dkdv, dict(HEAD_DIM=96, BLOCK_N=64, BLOCK_D=128)),
    (_gated_combine_bwd, dict(HEAD_DIM=128, BLOCK_R=32, BLOCK_D=128)),
    (_row_dot, dict(HEAD_DIM=80, BLOCK_R=32, BLOCK_D=128)),
] + [
    (_range_attention_fwd, dict(MODE=mode, G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                                BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), BLOCK_N=64,
                                BLOCK_D=triton.next_power_of_2(d), UPCAST=False, IEEE=False))
    for mode in (0, 1) for g, d in ((1, 128), (5, 80), (16, 256))
] + [
    (_selected_partials, dict(NUM_SELECTED=16, G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                              BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), BLOCK_N=64,
                              BLOCK_D=triton.next_power_of_2(d), UPCAST=False, IEEE=False,
                              P_OFFSET=6.0, NORMALIZE=False, ALWAYS_MASK=False,
                              Q_EVICTION=q_hint, PART_EVICTION=part_hint))
    for g, d, q_hint, part_hint in ((1, 128, "", ""), (3, 64, "", ""),
                                    (16, 128, "evict_last", "evict_first"))
] + [
    (_partials_and_merge, dict(NUM_SELECTED=16, G=4, GP=4, HEAD_DIM=128, BLOCK_T=16, BLOCK_N=64,
                               BLOCK_D=128, UPCAST=False, IEEE=False, P_OFFSET=6.0,
                               NORMALIZE=False, ALWAYS_MASK=False, Q_EVICTION="evict_last",
                               PART_EVICTION="evict_first", BLOCK_R=32, NP=16, UNROLL=4)),
] + [
    (_select_blocks_fwd, dict(G=g, GP=triton.next_power_of_2(g), HEAD_DIM=d,
                              BLOCK_T=max(1, 64 // triton.next_power_of_2(g)), KEYS=64,
                              BLOCK_B=16, BLOCK_D=triton.next_power_of_2(d), NP=16, FILL=fill,
                              SPAN=span, SORTED=srt, PAIRED_TOP=srt, UPCAST=False, IEEE=False,
                              SPLIT_UPCAST=False, HALF=half))
    for g, d, fill, span, half, srt in ((1, 128, True, 16, True, False),
                                        (4, 128, True, 16, True, False),
                                        (16, 128, True, 16, True, True),
                                        (16, 64, False, 16, False, True))
] + [
    (_merge_partials, dict(G=3, GP=4, HEAD_DIM=128, BLOCK_R=16, BLOCK_D=128, NP=16, UNROLL=4,
                           NORMALIZE=False, PART_EVICTION="evict_first")),
    (_index_entries, dict(NP=16, BLOCK_T=32)),
    (_index_finish, dict(BLOCK=1024)),
    (_work_scan, dict(BLOCK=1024)),
    (_work_pieces, dict(BLOCK=1024)),
    (_gated_combine_fwd, dict(HEAD_DIM=128, BLOCK_R=32, BLOCK_D=128)),
]


RANGE_KERNELS = (_range_attention_fwd, _range_attention_bwd_dkdv, _range_attention_bwd_dq)


def compile_cases():
    """Every case in bf16 and fp32, except the range kernels at D = 256 in fp32: their IEEE
    float32 dots, in three copies of the tile loop, take ~100 s each to compile on a CI core.
    bf16 compiles the same code, and the GPU suite runs float32 at D = 256."""
    for kernel, constexprs in CASES:
        for dtype in ("bf16", "fp32"):
            if not (dtype == "fp32" and kernel in RANGE_KERNELS and constexprs["HEAD_DIM"] > 128):
                yield pytest.param(kernel, constexprs, dtype, id=f"{kernel.__name__}-{dtype}")


@pytest.mark.parametrize("kernel,constexprs,dtype", list(compile_cases()))
def test_kernel_compiles_for_sm90(kernel, constexprs, dtype):
    if "IEEE" in constexprs:
        constexprs = {**constexprs, "IEEE": dtype == "fp32"}
    src = ASTSource(kernel, signature(kernel, constexprs, dtype), constexprs=constexprs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32))
    assert "cubin" in compiled.asm
