"""Index arithmetic past 2**31 elements (issue 7): q of B * T * Hq * D > 2**31 on the GPU.

T = 2**18 + 3001 tokens, Hq = 64 (G = 16, Hkv = 4), D = 128, bfloat16: q alone has
2.17e9 elements (4.3 GB). Every kernel runs on the whole tensors; the float32 oracle checks
the rows where a 32-bit offset would have wrapped (the last R queries, as queries behind the
keys) and the first R (as a sequence of R tokens), and the gradients of the keys that only
those last queries see.
"""

from __future__ import annotations

import math

import pytest
import torch

from fsa_ops import reference as R
from fsa_ops.testing import REL_TOL, attention_gradient_floors, rel_error, selection_gap

pytestmark = pytest.mark.cuda
fsa = torch.ops.fsa

T, HKV, G, D = 2**18 + 3001, 4, 16, 128
HQ = HKV * G
ROWS = 256                                   # rows checked at each end
BLOCK, STRIDE, SELECT, WINDOW = 32, 16, 64, 512
SCALE = D ** -0.5
DTYPE = torch.bfloat16
TOL = REL_TOL[DTYPE]


def randn(*shape):
    return torch.randn(shape, device="cuda", dtype=DTYPE)


def own_block_selection(num_queries, first_position):
    """[1, Tq, Hkv, 2]: block 0 and the query's own block (-1 where that is block 0)."""
    pos = torch.arange(num_queries, device="cuda") + first_position
    own = pos // SELECT
    idx = torch.stack([torch.zeros_like(own), torch.where(own > 0, own, -1)], -1)
    return idx[None, :, None, :].expand(1, num_queries, HKV, 2).to(torch.int32).contiguous()


@pytest.fixture(scope="module")
def inputs():
    assert T * HQ * D > 2**31
    torch.manual_seed(0)
    rows_cmp = (T - BLOCK) // STRIDE + 1
    return dict(q=randn(1, T, HQ, D), k=randn(1, T, HKV, D), v=randn(1, T, HKV, D),
                k_cmp=randn(1, rows_cmp, HKV, D), v_cmp=randn(1, rows_cmp, HKV, D))


def ops():
    """name -> (keys, values, extra args, first key row seen only by the last ROWS queries)."""
    first_cmp = math.ceil((T - ROWS - (BLOCK - 1)) / STRIDE)
    return {
        "window_attention": ("k", "v", lambda tq, tk: (None, None, WINDOW, SCALE), T - ROWS),
        "selected_attention": ("k", "v", None, T - ROWS),
        "compressed_attention": ("k_cmp", "v_cmp",
                                 lambda tq, tk: (None, None, tk, BLOCK, STRIDE, SCALE), first_cmp),
    }


def _call(name, q, k, v, num_keys, first_position, dtype_module):
    if name == "selected_attention":
        idx = own_block_selection(q.shape[1], first_position)
        return getattr(dtype_module, name)(q, k, v, idx, None, None, SELECT, SCALE), idx
    args = ops()[name][2](q.shape[1], num_keys)
    return getattr(dtype_module, name)(q, k, v, *args), None


@pytest.mark.parametrize("name", list(ops()))
def test_attention_past_2_31_elements(inputs, name):
    keys, values, _, first_tail_key = ops()[name]
    q, k, v = inputs["q"], inputs[keys], inputs[values]
    (o, lse), idx = _call(name, q, k, v, T, 0, fsa)
    assert torch.isfinite(o).all()

    # The last ROWS queries, as queries behind all T keys.
    q_tail = q[:, -ROWS:].float()
    (o_ref, _), idx_tail = _call(name, q_tail, k.float(), v.float(), T, T - ROWS, R)
    assert rel_error(o[:, -ROWS:], o_ref) <= TOL
    # The first ROWS queries, as a sequence of ROWS tokens.
    head_keys = ROWS if keys == "k" else (ROWS - BLOCK) // STRIDE + 1
    (o_head, _), _ = _call(name, q[:, :ROWS].float(), k[:, :head_keys].float(),
                           v[:, :head_keys].float(), ROWS, 0, R)
    assert rel_error(o[:, :ROWS], o_head) <= TOL

    # Backward with an upstream gradient on the last ROWS queries only: dq there, and dk / dv
    # of the keys that no earlier query sees, against the oracle on those queries.
    do = torch.zeros_like(o)
    do[:, -ROWS:] = randn(1, ROWS, HQ, D)
    backward = getattr(fsa, name + "_backward")
    extra = (idx,) if idx is not None else ()
    args = ops()[name][2](T, T) if name != "selected_attention" else (None, None, SELECT, SCALE)
    junk = torch.full((1 << 31,), float("nan"), device="cuda", dtype=DTYPE)   # poison: 4 GiB
    del junk
    dq, dk, dv = backward(do, q, k, v, *extra, o, lse, *args)
    del o, lse
    assert not dq[:, :-ROWS].any()            # no upstream gradient there: every row written, 0
    ref_inputs = (q_tail, k.float(), v.float()) + ((idx_tail,) if idx is not None else ())
    ref_args = ops()[name][2](ROWS, T) if name != "selected_attention" else (None, None, SELECT,
                                                                            SCALE)
    do_tail = do[:, -ROWS:].float()
    dq_ref, dk_ref, dv_ref = getattr(R, name + "_backward")(do_tail, *ref_inputs, *ref_args)
    floors = attention_gradient_floors(getattr(R, name), getattr(R, name + "_backward"),
                                       ref_inputs, ref_args, do_tail, SCALE)
    assert torch.isfinite(dq).all() and torch.isfinite(dk).all() and torch.isfinite(dv).all()
    assert rel_error(dq[:, -ROWS:], dq_ref, floors[0]) <= TOL
    assert rel_error(dk[:, first_tail_key:], dk_ref[:, first_tail_key:], floors[1]) <= TOL
    assert rel_error(dv[:, first_tail_key:], dv_ref[:, first_tail_key:]) <= TOL


def test_select_blocks_and_gate_past_2_31_elements(inputs):
    q, k_cmp, v_cmp = inputs["q"], inputs["k_cmp"], inputs["v_cmp"]
    _, lse = fsa.compressed_attention(q, k_cmp, v_cmp, None, None, T, BLOCK, STRIDE, SCALE)
    indices = fsa.select_blocks(q, k_cmp, lse, None, None, T, BLOCK, STRIDE, SELECT, 16, 1, 2,
                                SCALE)
    keys = R.block_selection_keys(q[:, -ROWS:].float(), k_cmp.float(), None, None, T, BLOCK,
                                  STRIDE, SELECT, 1, 2, SCALE)
    assert selection_gap(indices[:, -ROWS:], keys) <= TOL
    del lse, indices

    branches = [randn(1, T, HQ, D) for _ in range(2)] + [q]
    gates = [torch.rand(1, T, HQ, device="cuda", dtype=DTYPE) for _ in range(3)]
    out = fsa.gated_combine(*branches, *gates)
    for rows in (slice(0, ROWS), slice(T - ROWS, T)):
        ref = R.gated_combine(*(x[:, rows].float() for x in branches + gates))
        assert rel_error(out[:, rows], ref) <= TOL
