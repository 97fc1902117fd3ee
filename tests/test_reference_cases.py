"""Hand-worked cases: every expected value below is written out from SPEC §2 by hand."""

import math

import pytest
import torch

from fsa_ops import reference as R

f64 = torch.float64


def _inf_keys(scores, position, init, local, block):
    """selection_keys for one query and one kv head."""
    s = torch.tensor(scores, dtype=f64)[None, None, :]
    return R.selection_keys(s, torch.tensor([position]), init, local, block)


def _pick(scores, position, n, init, local, block):
    return R.top_blocks(_inf_keys(scores, position, init, local, block), n)[0, 0].tolist()


# ----------------------------------------------------------------------------- overlap weights

def test_overlap_weights_paper_blocks():
    # (l, d, l') = (32, 16, 64): compressed key i covers [16i, 16i+31], block j [64j, 64j+63].
    w = R.overlap_weights(5, 2, 32, 16, 64)
    assert w.tolist() == [[2, 0], [2, 0], [2, 0], [1, 1], [0, 2]]


def test_overlap_weights_other_triple():
    # (l, d, l') = (16, 8, 24): key i covers [8i, 8i+15], block j [24j, 24j+23].
    w = R.overlap_weights(6, 3, 16, 8, 24)
    assert w.tolist() == [[2, 0, 0], [2, 0, 0], [1, 1, 0], [0, 2, 0], [0, 2, 0], [0, 1, 1]]


def test_overlap_weights_key_longer_than_block():
    # (l, d, l') = (64, 16, 32): key 0 covers [0, 63] = blocks 0 and 1; key 1 covers [16, 79].
    w = R.overlap_weights(2, 3, 64, 16, 32)
    assert w.tolist() == [[2, 2, 0], [1, 2, 1]]


# ----------------------------------------------------------------------------- block selection

def test_forced_initial_and_local_blocks():
    # t = 13, l' = 4: blocks 0..3 valid (3 = t // l'), block 4 not. init 1, local 2 force 0, 2, 3
    # even though they score lowest.
    scores = [0.0, 9.0, 0.0, 0.0, 9.0]
    assert _pick(scores, 13, 3, 1, 2, 4) == [0, 2, 3]
    assert _pick(scores, 13, 4, 1, 2, 4) == [0, 1, 2, 3]
    assert _pick(scores, 13, 5, 1, 2, 4) == [0, 1, 2, 3, -1]      # fewer valid than n: -1 pad


def test_no_forced_blocks_takes_the_best():
    assert _pick([0.1, 0.9, 0.3, 0.8], 15, 2, 0, 0, 4) == [1, 3]


def test_ties_go_to_the_smaller_block():
    # t = 27, l' = 4: blocks 0..6 valid; init 1 and local 1 force 0 and 6.
    scores = [0.0, 0.5, 0.7, 0.5, 0.7, 0.5, 0.0]
    assert _pick(scores, 27, 4, 1, 1, 4) == [0, 2, 4, 6]
    assert _pick(scores, 27, 5, 1, 1, 4) == [0, 1, 2, 4, 6]         # 1 beats 3 and 5 at 0.5
    assert _pick(scores, 27, 6, 1, 1, 4) == [0, 1, 2, 3, 4, 6]


def test_select_blocks_all_heads_of_a_group_vote():
    # One kv head, G = 2, D = 16, l = d = l' = 16 so compressed key i is exactly block i.
    # Query t = 47 sees keys 0, 1, 2. Head 0 leans mildly to key 1, head 1 strongly to key 2:
    # the group's sum prefers block 2; head 0 alone would pick block 1.
    q = torch.zeros(1, 1, 2, 16, dtype=f64)
    k_cmp = torch.zeros(1, 3, 1, 16, dtype=f64)
    k_cmp[0, 1, 0, 0] = 1.0
    k_cmp[0, 2, 0, 1] = 1.0
    q[0, 0, 0, 0] = 4.0 * 2.0          # head 0: scores (0, 2, 0) after scale 1/4
    q[0, 0, 1, 1] = 4.0 * 8.0          # head 1: scores (0, 0, 8)
    p0 = torch.softmax(torch.tensor([0.0, 2.0, 0.0], dtype=f64), 0)
    p1 = torch.softmax(torch.tensor([0.0, 0.0, 8.0], dtype=f64), 0)
    scores = R.block_scores(q, k_cmp, None, None, 48, 16, 16, 16, 0.25)
    assert torch.allclose(scores[0, 0, 0], p0 + p1)
    # n = 1, no forced blocks, query behind keys at position 47.
    idx = R.select_blocks(q, k_cmp, None, None, None, 48, 16, 16, 16, 1, 0, 0, 0.25)
    assert idx[0, 0, 0].tolist() == [2]


def test_query_with_no_visible_compressed_key_selects_by_ties():
    # l = 32, d = 8, l' = 8: t = 30 sees no compressed key (8i + 31 > 30), so every block
    # scores 0; blocks 0..3 are valid, init 1 and local 1 force 0 and 3, and the tie among
    # 1 and 2 goes to 1.
    q = torch.randn(1, 31, 1, 16, dtype=f64)
    k_cmp = torch.randn(1, 1, 1, 16, dtype=f64)       # Tk = 32 gives Tc = 1 (tokens 0..31)
    idx = R.select_blocks(q, k_cmp, None, None, None, 32, 32, 8, 8, 3, 1, 1, 0.25)
    # Tk = 32, Tq = 31: query row 29 sits at position 30.
    assert idx[0, 29, 0].tolist() == [0, 1, 3]
    assert idx[0, 0, 0].tolist() == [0, -1, -1]      # position 1: only block 0 is valid


# ----------------------------------------------------------------------------- compressed attention

def test_compressed_attention_no_visible_key_is_zero_with_minus_inf_lse():
    # T = 40, l = 32, d = 16: one compressed key (tokens 0..31), visible from t = 31 on.
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 40, 2, 16, dtype=f64, generator=g)
    k_cmp = torch.randn(1, 1, 1, 16, dtype=f64, generator=g)
    v_cmp = torch.randn(1, 1, 1, 16, dtype=f64, generator=g)
    o, lse = R.compressed_attention(q, k_cmp, v_cmp, None, None, 40, 32, 16, 0.25)
    assert torch.equal(o[0, :31], torch.zeros(31, 2, 16, dtype=f64))
    assert torch.isneginf(lse[0, :31]).all()
    # One visible key: softmax weight 1, o = v_cmp[0], lse = the single scaled score.
    assert torch.allclose(o[0, 31:], v_cmp[0, 0, 0].expand(9, 2, 16))
    assert torch.allclose(lse[0, 31:], 0.25 * q[0, 31:] @ k_cmp[0, 0, 0])
    do = torch.randn_like(o)
    dq, dk, dv = R.compressed_attention_backward(do, q, k_cmp, v_cmp, None, None, 40, 32, 16, 0.25)
    assert torch.isfinite(dq).all() and torch.equal(dq[0, :31], torch.zeros(31, 2, 16, dtype=f64))
    assert torch.allclose(dv[0, 0, 0], do[0, 31:].sum((0, 1)))


# ----------------------------------------------------------------------------- window / selected

def _uniform_keys(t, d=16):
    """Keys that all score alike, so attention weights are uniform over what is visible."""
    return torch.ones(1, t, 1, d, dtype=f64)


def test_window_covers_w_keys_itself_included():
    # w = 3, all keys alike: o[t] = mean(v[max(0, t-2) .. t]), lse = s + log(count).
    t_len, w = 7, 3
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, t_len, 1, 16, dtype=f64, generator=g)
    v = torch.arange(t_len, dtype=f64).reshape(1, t_len, 1, 1).expand(1, t_len, 1, 16).contiguous()
    o, lse = R.window_attention(q, _uniform_keys(t_len), v, None, None, w, 0.25)
    assert o[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0], rel=1e-12)
    counts = torch.tensor([1, 2, 3, 3, 3, 3, 3], dtype=f64)
    assert torch.allclose(lse[0, :, 0], 0.25 * q[0, :, 0].sum(-1) + counts.log())


def test_selected_attention_reads_selected_blocks_causally():
    # l' = 4, query t = 9 selects blocks 0 and 2: keys {0, 1, 2, 3} and {8, 9} (10, 11 > t).
    t_len = 12
    q = torch.randn(1, t_len, 1, 16, dtype=f64)
    v = torch.arange(t_len, dtype=f64).reshape(1, t_len, 1, 1).expand(1, t_len, 1, 16).contiguous()
    idx = torch.full((1, t_len, 1, 3), -1, dtype=torch.int32)
    idx[0, 9, 0] = torch.tensor([0, 2, -1])
    idx[0, 10, 0] = torch.tensor([2, 2, -1])                 # a repeated block counts once
    o, lse = R.selected_attention(q, _uniform_keys(t_len), v, idx, None, None, 4, 0.25)
    assert o[0, 9, 0, 0].item() == pytest.approx((0 + 1 + 2 + 3 + 8 + 9) / 6)
    assert o[0, 10, 0, 0].item() == pytest.approx((8 + 9 + 10) / 3)
    assert lse[0, 10, 0].item() == pytest.approx(0.25 * q[0, 10, 0].sum().item() + math.log(3))
    assert torch.isneginf(lse[0, 0, 0]) and o[0, 0].abs().sum() == 0    # selects nothing


# ----------------------------------------------------------------------------- packing

def test_packed_sequences_of_length_zero_and_one():
    # cu_seqlens [0, 0, 1, 6, 6]: sequences of 0, 1, 5 and 0 tokens.
    cu = torch.tensor([0, 0, 1, 6, 6], dtype=torch.int32)
    g = torch.Generator().manual_seed(2)
    q = torch.randn(1, 6, 1, 16, dtype=f64, generator=g)
    k = torch.randn(1, 6, 1, 16, dtype=f64, generator=g)
    v = torch.randn(1, 6, 1, 16, dtype=f64, generator=g)
    o, lse = R.window_attention(q, k, v, cu, cu, 4, 0.25)
    # The one-token sequence attends only itself: o = v, lse = its own score.
    assert torch.allclose(o[0, 0], v[0, 0])
    assert torch.allclose(lse[0, 0, 0], 0.25 * q[0, 0, 0] @ k[0, 0, 0])
    # The five-token sequence starts over at row 1: the same as running it alone.
    o_alone, _ = R.window_attention(q[:, 1:], k[:, 1:], v[:, 1:], None, None, 4, 0.25)
    assert torch.allclose(o[0, 1:], o_alone[0])
    # Compressed keys (l = 16, d = 8): packed layout has 6 // 8 = 0 rows; nothing is visible.
    k_cmp = torch.zeros(1, 0, 1, 16, dtype=f64)
    oc, lsec = R.compressed_attention(q, k_cmp, k_cmp, cu, cu, 6, 16, 8, 0.25)
    assert torch.equal(oc, torch.zeros_like(oc)) and torch.isneginf(lsec).all()


def test_packed_compressed_layout_rows():
    # Sequences of 40 and 50 tokens, l = 32, d = 16: Tc = 1 and 2; the packed layout has
    # 90 // 16 = 5 rows, sequence 0 owns row 0 (0 // 16), sequence 1 rows 2, 3 (40 // 16 = 2).
    cu = torch.tensor([0, 40, 90], dtype=torch.int32)
    q = torch.randn(1, 90, 1, 16, dtype=f64)
    k_cmp = torch.randn(1, 5, 1, 16, dtype=f64)
    v_cmp = torch.randn(1, 5, 1, 16, dtype=f64)
    o, _ = R.compressed_attention(q, k_cmp, v_cmp, cu, cu, 90, 32, 16, 0.25)
    assert torch.allclose(o[0, 39], v_cmp[0, 0, 0])                      # t = 39 sees row 0 only
    assert torch.allclose(o[0, 40 + 31], v_cmp[0, 2, 0])                 # t = 31 of seq 1: row 2
    o_alone, _ = R.compressed_attention(q[:, 40:], k_cmp[:, 2:4], v_cmp[:, 2:4], None, None, 50,
                                        32, 16, 0.25)
    assert torch.allclose(o[0, 40:], o_alone[0])
