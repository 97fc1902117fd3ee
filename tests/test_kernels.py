"""The Triton forward kernels against the float64 oracle.

Runs where Triton runs: on a CUDA GPU, or on the CPU through the interpreter when the suite is
started with TRITON_INTERPRET=1 (then the ops' CPU kernels are the Triton launchers).
Before each call the allocator is flooded with NaN, so an output element a kernel forgets to
write shows up as NaN and fails the comparison.
"""

import os

import pytest
import torch
from hypothesis import given, settings

import fsa_ops
from fsa_ops import reference as R
from fsa_ops.testing import REL_TOL, rel_error, selection_gap
from strategies import Problem, problems

pytestmark = pytest.mark.triton
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
fsa = torch.ops.fsa


def poison_allocator(device):
    """Fill freshly freed device memory with NaN so torch.empty hands out NaN."""
    if device == "cuda":
        junk = torch.full((64 << 20,), float("nan"), device=device)
        del junk


def run_forward_ops(p: Problem, device, oracle_dtype=torch.float64):
    """Every forward op with a Triton kernel, on p.dtype tensors; returns {name: (out, ref)}.
    The oracle runs in `oracle_dtype` (float32 for long GPU cases: its own error, ~1e-6, is far
    below every bound, and float64 would dominate the suite's time)."""
    t = p.tensors(device=device)
    ref_t = {k: v.to(oracle_dtype) for k, v in t.items()}
    cu_q, cu_k = p.cu_seqlens(device)
    indices = p.random_indices(device)
    results = {}
    calls = {
        "compressed_attention": lambda x: (x["q"], x["k_cmp"], x["v_cmp"], cu_q, cu_k, p.seqlen_k,
                                           p.compress_block_size, p.compress_stride, p.scale),
        "window_attention": lambda x: (x["q"], x["k"], x["v"], cu_q, cu_k, p.window_size, p.scale),
        "selected_attention": lambda x: (x["q"], x["k"], x["v"], indices, cu_q, cu_k,
                                         p.select_block_size, p.scale),
    }
    for name, args in calls.items():
        poison_allocator(device)
        o, lse = getattr(fsa, name)(*args(t))
        o_ref, lse_ref = getattr(R, name)(*args(ref_t))
        results[name] = ((o, o_ref), (lse, lse_ref))
    # Block selection from the kernel's own compressed lse, judged by its score shortfall
    # under the oracle's scores (near-ties may go either way).
    lse_cmp = results["compressed_attention"][1][0]
    poison_allocator(device)
    indices = fsa.select_blocks(t["q"], t["k_cmp"], lse_cmp, cu_q, cu_k, p.seqlen_k,
                                p.compress_block_size, p.compress_stride, p.select_block_size,
                                p.num_selected_blocks, p.num_init_blocks, p.num_local_blocks,
                                p.scale)
    keys = R.block_selection_keys(ref_t["q"], ref_t["k_cmp"], cu_q, cu_k, p.seqlen_k,
                                  p.compress_block_size, p.compress_stride, p.select_block_size,
                                  p.num_init_blocks, p.num_local_blocks, p.scale)
    results["select_blocks"] = selection_gap(indices, keys)
    poison_allocator(device)
    gates = [t[n] for n in ("q", "q", "q", "g_cmp", "g_slc", "g_swa")]
    branches = [torch.randn_like(t["q"]) for _ in range(3)]
    out = fsa.gated_combine(*branches, *gates[3:])
    ref = R.gated_combine(*(x.to(oracle_dtype) for x in branches + gates[3:]))
    results["gated_combine"] = ((out, ref),)
    return results


def check_results(p: Problem, results):
    gap = results.pop("select_blocks")
    assert gap <= REL_TOL[p.dtype], ("select_blocks", gap)
    for name, pairs in results.items():
        (o, o_ref), *rest = pairs
        assert o.dtype == p.dtype, name
        assert rel_error(o, o_ref) <= REL_TOL[p.dtype], (name, rel_error(o, o_ref))
        for lse, lse_ref in rest:
            # -inf exactly where the oracle has no visible key; elsewhere close.
            assert torch.equal(torch.isneginf(lse.cpu()), torch.isneginf(lse_ref.cpu())), name
            finite = torch.isfinite(lse_ref)
            assert torch.isfinite(lse[finite]).all(), name
            err = (lse[finite].double() - lse_ref[finite]).abs().max().item() if finite.any() else 0
            assert err <= 50 * REL_TOL[p.dtype], (name, "lse", err)


def test_kernels_are_registered():
    assert fsa_ops.kernels_available(DEVICE)


@given(problems(max_len=96 if DEVICE == "cpu" else 300,
                head_dims=(16, 32) if DEVICE == "cpu" else (16, 64, 80, 128, 256)))
def test_forward_kernels_match_oracle(p):
    check_results(p, run_forward_ops(p, DEVICE))


LONG_CASES = [(t, g, dt) for t in (1000, 4099) for g in (1, 3, 4, 16)
              for dt in (torch.bfloat16, torch.float16, torch.float32)]
LONG_CASES += [(16384, g, torch.bfloat16) for g in (1, 3, 4, 16)]


@pytest.mark.cuda
@pytest.mark.parametrize("seqlen,group,dtype", LONG_CASES)
def test_forward_kernels_long_sequences(seqlen, group, dtype):
    p = Problem(batch=1, q_lens=[seqlen], k_lens=[seqlen], packed=False, num_kv_heads=2,
                group=group, head_dim=128, compress_block_size=32, compress_stride=16,
                select_block_size=64, num_selected_blocks=16, num_init_blocks=1,
                num_local_blocks=2, window_size=512, dtype=dtype, seed=seqlen + group)
    check_results(p, run_forward_ops(p, "cuda", torch.float32))


@pytest.mark.cuda
def test_forward_kernels_packed_long():
    lens = [5000, 1, 0, 3333, 7777]
    p = Problem(batch=1, q_lens=lens, k_lens=lens, packed=True, num_kv_heads=4, group=5,
                head_dim=64, compress_block_size=32, compress_stride=16, select_block_size=64,
                num_selected_blocks=16, num_init_blocks=1, num_local_blocks=2, window_size=512,
                dtype=torch.bfloat16, seed=7)
    check_results(p, run_forward_ops(p, "cuda", torch.float32))
