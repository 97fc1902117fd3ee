"""SPEC §4, the error contract: every op refuses a broken argument with a ValueError (TypeError
for a wrong type) whose message starts `fsa.<op>: <argument> `, says what was expected and
what it got; the fake impl (what torch.compile traces) says the same words; values are checked
unless `check_values=False`, and unchecked values never take a kernel out of bounds."""

from __future__ import annotations

import re

import pytest
import torch
from expecttest import assert_expected_inline
from hypothesis import given, settings
from hypothesis import strategies as st
from torch._subclasses.fake_tensor import FakeTensorMode

import fsa_ops
from fsa_ops.validation import check_cu_seqlens_values, trusted_offsets
from strategies import Problem, op_calls, problems

fsa = torch.ops.fsa
FLOAT_GROUPS = {   # argument -> the argument whose device and dtype it must share
    "k": "q", "v": "q", "k_cmp": "q", "v_cmp": "q", "do": "q", "o": "q",
    "o_slc": "o_cmp", "o_swa": "o_cmp", "g_cmp": "o_cmp", "g_slc": "o_cmp", "g_swa": "o_cmp",
}
SHAPED_LIKE_ANOTHER = {"v", "v_cmp", "do", "o", "lse", "o_slc", "o_swa", "g_cmp", "g_slc", "g_swa"}


def named(op: str, args: tuple) -> dict:
    schema = getattr(fsa, op).default._schema
    return dict(zip([a.name for a in schema.arguments], args))


def _strided(x: torch.Tensor) -> torch.Tensor:
    """x's values in a view whose last dimension has stride 2."""
    y = x.new_empty(*x.shape[:-1], 2 * x.shape[-1])[..., ::2]
    return y.copy_(x.detach())


def _longer(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.cat([x.detach(), x.detach().narrow(dim, 0, 1)], dim) if x.shape[dim] else \
        x.new_zeros(*x.shape[:dim], 1, *x.shape[dim + 1:])


def breakages(kw: dict, p: Problem) -> list[tuple[str, str, object, type, bool]]:
    """(label, argument, broken value, exception, reads data) for every way this package
    promises to catch a single broken argument of the call `kw`."""
    out = []
    for name, x in kw.items():
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            out.append(("rank", name, x.detach()[None], ValueError, False))
            out.append(("integer dtype", name, x.detach().to(torch.int32), TypeError, False))
            if x.shape[-1] > 1 and x.numel() > 0:
                out.append(("strided last dim", name, _strided(x), ValueError, False))
            if name in FLOAT_GROUPS:
                other = torch.float64 if x.dtype != torch.float64 else torch.float32
                out.append(("dtype mismatch", name, x.detach().to(other), TypeError, False))
                out.append(("device mismatch", name, x.detach().to("meta"), ValueError, False))
            if name in SHAPED_LIKE_ANOTHER:
                out.append(("one row more", name, _longer(x, 1), ValueError, False))
        if name == "q" and kw.get("k") is not None and x.shape[2] % 2 == 0 and kw["k"].shape[2] == 2:
            out.append(("heads not a multiple", name, x.detach()[:, :, :-1], ValueError, False))
        if name == "indices":
            out += [("int64", name, x.long(), TypeError, False),
                    ("no slot", name, x[..., :0], ValueError, False),
                    ("one row more", name, _longer(x, 1), ValueError, False)]
            if x.numel():
                too_big, too_small = x.clone(), x.clone()
                too_big[0, -1, 0, 0] = (p.k_lens[-1 if p.packed else 0] + p.select_block_size - 1) \
                    // p.select_block_size
                too_small[0, 0, 0, 0] = -2
                out += [("past the sequence's blocks", name, too_big, ValueError, True),
                        ("below -1", name, too_small, ValueError, True)]
        if name in ("cu_seqlens_q", "cu_seqlens_k") and x is not None:
            other = "cu_seqlens_k" if name == "cu_seqlens_q" else "cu_seqlens_q"
            out += [("int64", name, x.long(), TypeError, False),
                    ("2-D", name, x[None], ValueError, False),
                    ("device", name, x.to("meta"), ValueError, False),
                    ("the other one missing", other, None, ValueError, False)]
            start, end = x.clone(), x.clone()
            start[0] = 1
            end[-1] += 1
            out += [("start not 0", name, start, ValueError, True),
                    ("end not the token count", name, end, ValueError, True)]
            if x.shape[0] >= 3:
                down = x.clone()
                down[1] = x[-1] + 1          # above every later offset
                out.append(("decreasing", name, down, ValueError, True))
    scalars = [("seqlen_k", -1), ("compress_stride", 0),
               ("compress_block_size", kw.get("compress_stride", 0) + 1 if kw.get("compress_stride", 0) > 1 else 0),
               ("window_size", 0), ("scale", 0.0), ("scale", float("inf")), ("scale", float("nan")),
               ("num_init_blocks", -1), ("num_local_blocks", -1)]
    if "num_selected_blocks" in kw:
        scalars += [("select_block_size", kw["compress_stride"] + 1),
                    ("num_selected_blocks", kw["num_init_blocks"] + kw["num_local_blocks"] - 1
                     if kw["num_init_blocks"] + kw["num_local_blocks"] > 1 else 0)]
    elif "select_block_size" in kw:
        scalars.append(("select_block_size", 0))
    out += [(f"{name}={value}", name, value, ValueError, False)
            for name, value in scalars if name in kw]
    return out


def _fake_call(op: str, kw: dict):
    mode = FakeTensorMode(allow_non_fake_inputs=False)
    fake = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    with mode:
        return getattr(fsa, op)(**fake)


def _check_broken_call(p: Problem, data):
    t = p.tensors(requires_grad=True)
    op, args = data.draw(st.sampled_from(op_calls(p, t, p.random_indices())), label="op")
    kw = named(op, args)
    label, arg, value, exc, reads_data = data.draw(st.sampled_from(breakages(kw, p)),
                                                   label="breakage")
    kw[arg] = value
    with pytest.raises(exc, match=rf"^fsa\.{op}: {arg} ") as eager:
        getattr(fsa, op)(**kw)
    assert "got " in str(eager.value), label
    if reads_data:          # torch.compile cannot check values while tracing; without the
        if "check_values" in kw:        # check the op must run and stay in bounds
            kw["check_values"] = False
            getattr(fsa, op)(**kw)
        return
    with pytest.raises(exc) as traced:
        _fake_call(op, kw)
    assert str(traced.value) == str(eager.value), label


@settings(max_examples=5 * settings().max_examples)        # cheap: most calls fail at once
@given(problems(max_len=48, head_dims=(16, 32), dtypes=[torch.float32]), st.data())
def test_every_broken_argument_is_named(p, data):
    """One argument broken at a time, drawn from a valid call of a random op."""
    _check_broken_call(p, data)


@pytest.mark.parametrize("packed", [False, True])
def test_every_breakage_of_every_op(packed):
    """All of them, on one batched and one packed problem (lengths 0 and 1 included)."""
    p = _fixed_problem(packed)
    t = p.tensors(requires_grad=True)
    calls = op_calls(p, t, p.random_indices())
    count = 0
    for op, args in calls:
        for _, arg, value, exc, _ in breakages(named(op, args), p):
            with pytest.raises(exc, match=rf"^fsa\.{op}: {arg} .*, got "):
                getattr(fsa, op)(**{**named(op, args), arg: value})
            count += 1
    assert count >= (360 if packed else 260)


@pytest.mark.triton
@settings(max_examples=10)
@given(problems(max_len=48, head_dims=(16,), dtypes=[torch.float32, torch.bfloat16]), st.data())
def test_kernels_name_every_broken_argument(p, data):
    """The same through the Triton launchers (CPU under TRITON_INTERPRET=1, or the GPU)."""
    _check_broken_call(p, data)


# ----------------------------------------------------------------------------- message texts

def _fixed_problem(packed: bool) -> Problem:
    lens = [70, 0, 1, 45] if packed else [90]
    return Problem(batch=1, q_lens=lens, k_lens=lens, packed=packed, num_kv_heads=2, group=2,
                   head_dim=32, compress_block_size=32, compress_stride=16, select_block_size=32,
                   num_selected_blocks=3, num_init_blocks=1, num_local_blocks=1, window_size=20,
                   dtype=torch.float32, seed=3)


def _message(op: str, kw: dict, **broken) -> str:
    try:
        getattr(fsa, op)(**{**kw, **broken})
    except (ValueError, TypeError) as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def test_error_messages():
    calls = {}
    for packed in (False, True):
        p = _fixed_problem(packed)
        t = p.tensors()
        calls[packed] = {op: named(op, args) for op, args in op_calls(p, t, p.random_indices())}
    sel, win, cmp_ = calls[False]["selected_attention"], calls[False]["window_attention"], \
        calls[False]["compressed_attention"]
    blocks, gate = calls[False]["select_blocks"], calls[False]["gated_combine"]
    packed_win, packed_sel = calls[True]["window_attention"], calls[True]["selected_attention"]
    cu = packed_win["cu_seqlens_q"]
    bad_index = sel["indices"].clone()
    bad_index[0, 80, 1, 2] = 3
    bad_packed_index = packed_sel["indices"].clone()
    bad_packed_index[0, 5, 0, 1] = 3       # sequence 0 has 70 keys: blocks 0..2
    messages = [
        _message("window_attention", win, q=win["q"][..., :24]),
        _message("window_attention", win, k=win["k"].double()),
        _message("window_attention", win, v=win["v"][:, :-1]),
        _message("window_attention", win, k=win["k"].to("meta")),
        _message("window_attention", win, q=win["q"][:, :, :3]),
        _message("window_attention", win, q=_strided(win["q"])),
        _message("window_attention", win, window_size=0),
        _message("compressed_attention", cmp_, k_cmp=cmp_["k_cmp"][:, 1:], v_cmp=cmp_["v_cmp"][:, 1:]),
        _message("compressed_attention", cmp_, compress_block_size=40),
        _message("select_blocks", blocks, num_selected_blocks=1),
        _message("select_blocks", blocks, select_block_size=24),
        _message("select_blocks", blocks, lse=blocks["lse"].half()),
        _message("selected_attention", sel, indices=bad_index),
        _message("selected_attention", sel, indices=sel["indices"][:, :-1]),
        _message("selected_attention", sel, scale=float("nan")),
        _message("gated_combine", gate, g_slc=gate["g_slc"][:, :, :1]),
        _message("window_attention", packed_win, cu_seqlens_k=None),
        _message("window_attention", packed_win, cu_seqlens_q=cu.long()),
        _message("window_attention", packed_win, cu_seqlens_q=cu + 1),
        _message("window_attention", packed_win, cu_seqlens_q=torch.tensor([0, 70, 69, 71, 116],
                                                                           dtype=torch.int32)),
        _message("window_attention", packed_win, cu_seqlens_q=torch.cat([cu[:-1], cu[-1:] - 1])),
        _message("window_attention", packed_win, cu_seqlens_q=torch.tensor([0, 71, 71, 71, 116],
                                                                           dtype=torch.int32)),
        _message("selected_attention", packed_sel, indices=bad_packed_index),
    ]
    assert_expected_inline("\n".join(messages), """\
ValueError: fsa.window_attention: q must have a head dim that is a multiple of 16 in [16, 256], got head dim 24
TypeError: fsa.window_attention: k must have q's dtype float32, got float64
ValueError: fsa.window_attention: v must match k's shape (1, 90, 2, 32), got shape (1, 89, 2, 32)
ValueError: fsa.window_attention: k must be on q's device cpu, got device meta
ValueError: fsa.window_attention: q must have a number of heads that is a positive multiple of the kv heads, got 3 heads and 2 kv heads
ValueError: fsa.window_attention: q must be contiguous in its last dimension, got stride (23040, 256, 64, 2)
ValueError: fsa.window_attention: window_size must be >= 1, got 0
ValueError: fsa.compressed_attention: k_cmp must have (seqlen_k - compress_block_size) // compress_stride + 1 = 4 rows, got 3 rows (seqlen_k=90)
ValueError: fsa.compressed_attention: compress_block_size must be a positive multiple of compress_stride (16), got 40
ValueError: fsa.select_blocks: num_selected_blocks must be >= 1 and >= num_init_blocks + num_local_blocks (2), got 1
ValueError: fsa.select_blocks: select_block_size must be a multiple of compress_stride (16), got 24
TypeError: fsa.select_blocks: lse must have dtype in (float32, float64), got float16
ValueError: fsa.selected_attention: indices must be -1 or a block of the row's sequence, in [-1, 3), got 3 at [0, 80, 1, 2]
ValueError: fsa.selected_attention: indices must have shape [B, Tq, Hkv, n] = [1, 90, 2, n>=1], got shape (1, 89, 2, 3)
ValueError: fsa.selected_attention: scale must be a positive finite number, got nan
ValueError: fsa.gated_combine: g_slc must have shape (1, 90, 4), got shape (1, 90, 1)
ValueError: fsa.window_attention: cu_seqlens_k must be given together with the other of cu_seqlens_q / cu_seqlens_k, got None
TypeError: fsa.window_attention: cu_seqlens_q must have dtype int32, got int64
ValueError: fsa.window_attention: cu_seqlens_q must start at 0, got 1
ValueError: fsa.window_attention: cu_seqlens_q must be non-decreasing, got 69 after 70 at entry 2
ValueError: fsa.window_attention: cu_seqlens_q must end at the token count 116, got last offset 115
ValueError: fsa.window_attention: cu_seqlens_q must not have more queries than keys (70), got sequence 0 with 71 queries
ValueError: fsa.selected_attention: indices must be -1 or a block of the row's sequence, in [-1, 3), got 3 at [0, 5, 0, 1]""")


# ----------------------------------------------------------------------------- under torch.compile

def test_compiled_error_names_the_argument_with_numbers():
    """A shape error inside `torch.compile(fullgraph=True, dynamic=True)` carries the eager
    message word for word (Dynamo wraps it in its own exception type), sizes as numbers."""
    p = _fixed_problem(False)
    kw = named("window_attention", op_calls(p, p.tensors(), p.random_indices())[3][1])
    kw["v"] = kw["v"][:, :-1]
    with pytest.raises(ValueError) as eager:
        fsa.window_attention(**kw)

    def run(q, k, v):
        return fsa.window_attention(q, k, v, None, None, p.window_size, p.scale)[0]

    torch._dynamo.reset()
    with pytest.raises(Exception) as compiled:
        torch.compile(run, fullgraph=True, dynamic=True)(kw["q"], kw["k"], kw["v"])
    assert str(eager.value) in str(compiled.value)
    assert not re.search(r"\bs\d+\b", str(eager.value))


def test_compiled_graph_checks_values_when_asked():
    """Ops called with check_values=True (their default) check inside a compiled graph too,
    at run time, with the eager exception; nsa_attention leaves them off when compiling."""
    p = _fixed_problem(True)
    t = p.tensors()
    cu = p.cu_seqlens()[0]
    bad = cu.clone()
    bad[2] = bad[1] - 1

    def run(q, k, v, cu):
        return fsa.window_attention(q, k, v, cu, cu, p.window_size, p.scale)[0]

    torch._dynamo.reset()
    compiled = torch.compile(run, fullgraph=True)
    compiled(t["q"], t["k"], t["v"], cu)
    with pytest.raises(ValueError, match=r"^fsa\.window_attention: cu_seqlens_q must be non-decreasing"):
        compiled(t["q"], t["k"], t["v"], bad)
    with pytest.raises(ValueError, match=r"^fsa\.compressed_attention: cu_seqlens_q must be non-decreasing"):
        fsa_ops.nsa_attention(*(t[n] for n in ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc",
                                               "g_swa")), cu_seqlens=bad, **p.block_kwargs())


# ----------------------------------------------------------------------------- unchecked values

def _unchecked_indices(p: Problem, data):
    t = p.tensors(requires_grad=True)
    idx = p.random_indices()
    if idx.numel() == 0:
        return
    cu_q, cu_k = p.cu_seqlens()
    garbage = data.draw(st.lists(st.sampled_from([-7, -2, 10**6, 2**31 - 1]), min_size=1,
                                 max_size=4))
    broken, cleaned = idx.clone(), idx.clone()
    for value in garbage:
        at = data.draw(st.integers(0, idx.numel() - 1))
        broken.view(-1)[at], cleaned.view(-1)[at] = value, -1
    args = (cu_q, cu_k, p.select_block_size, p.scale)
    with pytest.raises(ValueError, match=r"^fsa\.selected_attention: indices must be -1 or a block"):
        fsa.selected_attention(t["q"], t["k"], t["v"], broken, *args)
    o, lse = fsa.selected_attention(t["q"], t["k"], t["v"], broken, *args, False)
    o_ref, lse_ref = fsa.selected_attention(t["q"], t["k"], t["v"], cleaned, *args)
    assert torch.equal(o, o_ref) and torch.equal(lse, lse_ref)
    do = torch.randn_like(o)
    grads = torch.autograd.grad(o, (t["q"], t["k"], t["v"]), do)
    grads_ref = torch.autograd.grad(o_ref, (t["q"], t["k"], t["v"]), do)
    for g, g_ref in zip(grads, grads_ref):
        assert torch.equal(g, g_ref)


def _unchecked_offsets(p: Problem, data):
    t = p.tensors(requires_grad=True)
    cu_q, cu_k = p.cu_seqlens()
    noise = data.draw(st.lists(st.integers(-50, 300), min_size=cu_q.shape[0],
                               max_size=cu_q.shape[0]))
    garbage_q = torch.tensor(noise, dtype=torch.int32)
    garbage_k = garbage_q + (cu_k - cu_q)
    try:
        check_cu_seqlens_values("test", garbage_q, garbage_k, p.seqlen_q, p.seqlen_k)
    except ValueError:
        with pytest.raises(ValueError, match=r"^fsa\.window_attention: cu_seqlens_"):
            fsa.window_attention(t["q"], t["k"], t["v"], garbage_q, garbage_k, p.window_size,
                                 p.scale)
    got, _ = fsa.window_attention(t["q"], t["k"], t["v"], garbage_q, garbage_k, p.window_size,
                                  p.scale, False)
    got.backward(torch.randn_like(got))
    assert torch.isfinite(got).all()
    assert all(torch.isfinite(t[n].grad).all() for n in ("q", "k", "v"))
    fixed_q, fixed_k = trusted_offsets(garbage_q, garbage_k, p.seqlen_q, p.seqlen_k)
    if bool(((fixed_q[1:] - fixed_q[:-1]) <= (fixed_k[1:] - fixed_k[:-1])).all()):
        expect, _ = fsa.window_attention(t["q"], t["k"], t["v"], fixed_q, fixed_k, p.window_size,
                                         p.scale)
        assert torch.equal(got, expect)


UNCHECKED = dict(max_len=80, head_dims=(16,), dtypes=[torch.float32])


@settings(max_examples=10)
@given(problems(**UNCHECKED), st.data())
def test_unchecked_indices_outside_the_sequence_count_as_unused(p, data):
    """check_values=False: an index below -1 or past its sequence's blocks reads nothing and
    the result (forward and gradients) equals the same call with -1 in its place."""
    _unchecked_indices(p, data)


@settings(max_examples=10)
@given(problems(**UNCHECKED, packed=True), st.data())
def test_unchecked_offsets_are_clamped_into_the_tensor(p, data):
    """check_values=False with garbage cu_seqlens: every implementation runs on the trusted
    offsets (clamped into [0, T], non-decreasing, ends pinned): finite, and equal to the call
    with those offsets where they are valid."""
    _unchecked_offsets(p, data)


@pytest.mark.triton
@settings(max_examples=10)
@given(problems(**UNCHECKED), st.data())
def test_kernels_unchecked_indices(p, data):
    _unchecked_indices(p, data)


@pytest.mark.triton
@settings(max_examples=10)
@given(problems(**UNCHECKED, packed=True), st.data())
def test_kernels_unchecked_offsets(p, data):
    _unchecked_offsets(p, data)
