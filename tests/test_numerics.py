"""Numerics at the edges (issue 7): finite inputs give finite answers that match the float64
oracle, forward and backward, through the Triton kernels (the GPU, or the CPU interpreter).

- scores spread over thousands of nats (q and k scaled up: a fixed softmax shift overflows);
- float16 inputs near their largest value;
- all scores equal (every key the same);
- rows that see no key (compressed branch before its first key, selections of only -1);
- sequences shorter than l, l' and w, packings of a thousand short sequences, one sequence
  holding every token.
"""

from __future__ import annotations

import pytest
import torch

import fsa_ops
from fsa_ops import reference as R
from fsa_ops.testing import REL_TOL, rel_error
from strategies import Problem
from test_kernels import DEVICE, check_backward, check_results, run_backward_ops, run_forward_ops

pytestmark = pytest.mark.triton
fsa = torch.ops.fsa
SMALL = DEVICE == "cpu"            # the interpreter: keep shapes tiny


def problem(lens, dtype, packed=False, group=2, seed=0, **blocks) -> Problem:
    config = dict(compress_block_size=32, compress_stride=16, select_block_size=32,
                  num_selected_blocks=3, num_init_blocks=1, num_local_blocks=1, window_size=40)
    config.update(blocks)
    return Problem(batch=1 if packed else 2, q_lens=list(lens) if packed else [lens[0]] * 2,
                   k_lens=list(lens) if packed else [lens[0]] * 2, packed=packed,
                   num_kv_heads=2, group=group, head_dim=16 if SMALL else 64, dtype=dtype,
                   seed=seed, **config)


def scaled(names, factor=None, peak=None):
    """edit hook: multiply the named tensors by `factor`, or rescale them to |max| = peak."""
    def edit(t, indices):
        for n in names:
            x = t[n].float()
            x = x * factor if factor is not None else x / x.abs().amax().clamp(min=1e-30) * peak
            t[n] = x.to(t[n].dtype)
        return t, indices
    return edit


def same_keys(t, indices):
    """Every key (and compressed key) equal to the first: all scores of a query are equal."""
    for n in ("k", "k_cmp"):
        if t[n].shape[1]:
            t[n] = t[n][:, :1].expand_as(t[n]).contiguous()
    return t, indices


def no_selection_for_odd_rows(t, indices):
    indices = indices.clone()
    indices[:, 1::2] = -1
    return t, indices


LENGTH = 150 if SMALL else 1200
CASES = {   # name: (edit hook, float16 only, upstream gradient scale)
    # scores of std ~2500 nats: q and k x 50 (q . k * D^-1/2 has std 1 for unit normals)
    "spread of thousands of nats": (scaled(("q", "k", "k_cmp"), factor=50.0), False, 1.0),
    # values near float16's max (outputs are convex mixes of them); the upstream gradient is
    # small enough that the true gradients (sums of do . v over D) fit in float16 as well
    "float16 values near its max": (scaled(("v", "v_cmp"), peak=6e4), True, 1e-3),
    "all scores equal": (same_keys, False, 1.0),
    "rows without a selected block": (no_selection_for_odd_rows, False, 1.0),
}
# Scores of 1e10 to 1e11 nats: q and k at float16's max. float32 spaces such scores 1e3 to 1e4
# apart, so a kernel that recomputes them cannot reproduce another kernel's lse: the attention
# outputs are exact (one-hot), while block selection (which rescores against the compressed
# branch's lse) is only promised valid and the backward only finite.
HUGE_SCORES = lambda t, i: scaled(("v", "v_cmp"), peak=2e4)(  # noqa: E731
    *scaled(("q", "k", "k_cmp"), peak=6e4)(t, i))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_forward_edges(case, dtype):
    edit, float16_only, _ = CASES[case]
    if float16_only and dtype != torch.float16:
        pytest.skip("a float16 case")
    p = problem([LENGTH], dtype, seed=sum(map(ord, case)))
    check_results(p, run_forward_ops(p, DEVICE, edit=edit))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_backward_edges(case, dtype):
    edit, float16_only, do_scale = CASES[case]
    if float16_only and dtype != torch.float16:
        pytest.skip("a float16 case")
    p = problem([LENGTH], dtype, seed=sum(map(ord, case)) + 1)
    check_backward(p, run_backward_ops(p, DEVICE, edit=edit, do_scale=do_scale))


def test_float16_scores_near_max():
    p = problem([LENGTH], torch.float16, seed=17)
    check_results(p, run_forward_ops(p, DEVICE, edit=HUGE_SCORES), selection_gap_bound=1e300)
    for name, pairs in run_backward_ops(p, DEVICE, edit=HUGE_SCORES, do_scale=1e-3).items():
        for grad, _ in pairs:
            assert torch.isfinite(grad).all(), name


def test_gated_combine_near_float16_max():
    """Branch outputs up to 2e4 and gates up to 1: the sum, < 6e4, is representable."""
    shape = (1, 77, 6, 32)
    branches = [(torch.rand(shape) * 4e4 - 2e4).half().to(DEVICE) for _ in range(3)]
    gates = [torch.rand(shape[:3]).half().to(DEVICE) for _ in range(3)]
    out = fsa.gated_combine(*branches, *gates)
    ref = R.gated_combine(*(x.double() for x in branches + gates))
    assert rel_error(out, ref) <= REL_TOL[torch.float16]
    # A gate's gradient sums do * o over D: do ~ 0.05 keeps it representable in float16.
    do = (0.05 * torch.randn(shape)).half().to(DEVICE)
    grads = fsa.gated_combine_backward(do, *branches, *gates)
    refs = R.gated_combine_backward(do.double(), *(x.double() for x in branches + gates))
    for g, r in zip(grads, refs):
        assert r.abs().max() < 6e4               # the true answer fits in float16
        assert rel_error(g, r) <= REL_TOL[torch.float16]


# ----------------------------------------------------------------------------- short and packed

SHORT = {
    "shorter than l, l' and w": dict(lens=[7], packed=False),
    "shorter than l' and w": dict(lens=[33], packed=False, window_size=60, select_block_size=64),
    "packed 0, 1 and short": dict(lens=[0, 1, 5, 0, 31, 2], packed=True),
}


@pytest.mark.parametrize("case", list(SHORT))
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_short_sequences(case, dtype):
    config = dict(SHORT[case])
    p = problem(config.pop("lens"), dtype, packed=config.pop("packed"), **config)
    check_results(p, run_forward_ops(p, DEVICE))
    check_backward(p, run_backward_ops(p, DEVICE))


def test_a_thousand_short_sequences():
    """1000 sequences of 0 to 6 tokens packed together, forward and backward (the backward
    only on a GPU: through the interpreter it takes minutes)."""
    lens = torch.randint(0, 7, (1000,), generator=torch.Generator().manual_seed(5)).tolist()
    p = problem(lens, torch.bfloat16, packed=True, group=1 if SMALL else 4,
                compress_block_size=4, compress_stride=2, select_block_size=4,
                num_selected_blocks=2, num_init_blocks=1, num_local_blocks=1, window_size=3)
    check_results(p, run_forward_ops(p, DEVICE))
    if not SMALL:
        check_backward(p, run_backward_ops(p, DEVICE))


def test_one_sequence_of_every_token():
    """Packed with a single sequence equals the batched call on the same tokens."""
    length = LENGTH + 7
    p_packed = problem([length], torch.float32, packed=True, seed=9)
    p_batched = problem([length], torch.float32, packed=False, seed=9)
    check_results(p_packed, run_forward_ops(p_packed, DEVICE))
    t = p_packed.tensors(device=DEVICE)
    cu = p_packed.cu_seqlens(DEVICE)[0]
    names = ("q", "k", "v", "g_cmp", "g_slc", "g_swa")
    # The compressed keys of the two layouts differ in rows: build them from one set of keys.
    rows = R.num_compressed_keys(length, p_packed.compress_block_size, p_packed.compress_stride)
    k_cmp, v_cmp = t["k_cmp"][:, :rows], t["v_cmp"][:, :rows]
    packed_rows = length // p_packed.compress_stride
    pad = (0, 0, 0, 0, 0, packed_rows - rows)
    o_packed = fsa_ops.nsa_attention(*(t[n] for n in names[:3]),
                                     torch.nn.functional.pad(k_cmp, pad),
                                     torch.nn.functional.pad(v_cmp, pad),
                                     *(t[n] for n in names[3:]), cu_seqlens=cu,
                                     **p_packed.block_kwargs())
    o_batched = fsa_ops.nsa_attention(*(t[n] for n in names[:3]), k_cmp, v_cmp,
                                      *(t[n] for n in names[3:]), **p_batched.block_kwargs())
    assert rel_error(o_packed, o_batched) <= REL_TOL[torch.float32]
