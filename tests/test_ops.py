"""Every torch.ops.fsa op: schema, opcheck, gradients and consistency with the oracle."""

import itertools

import pytest
import torch
from expecttest import assert_expected_inline
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

import fsa_ops  # noqa: F401  (registers torch.ops.fsa)
from fsa_ops import reference as R
from fsa_ops.testing import REL_TOL, rel_error, selection_gap
from strategies import Problem, op_calls, problems

f64 = torch.float64
fsa = torch.ops.fsa

FORWARD_OPS = ["compressed_attention", "select_blocks", "selected_attention", "window_attention",
               "gated_combine"]
BACKWARD_OPS = ["compressed_attention_backward", "selected_attention_backward",
                "window_attention_backward", "gated_combine_backward"]


def test_op_schemas():
    schemas = "\n".join(str(getattr(fsa, name).default._schema) for name in FORWARD_OPS + BACKWARD_OPS)
    assert_expected_inline(schemas, """\
fsa::compressed_attention(Tensor q, Tensor k_cmp, Tensor v_cmp, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt seqlen_k, SymInt compress_block_size, SymInt compress_stride, float scale, bool check_values=True) -> (Tensor, Tensor)
fsa::select_blocks(Tensor q, Tensor k_cmp, Tensor lse, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt seqlen_k, SymInt compress_block_size, SymInt compress_stride, SymInt select_block_size, SymInt num_selected_blocks, SymInt num_init_blocks, SymInt num_local_blocks, float scale, bool check_values=True) -> Tensor
fsa::selected_attention(Tensor q, Tensor k, Tensor v, Tensor indices, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt select_block_size, float scale, bool check_values=True, bool deterministic=True) -> (Tensor, Tensor)
fsa::window_attention(Tensor q, Tensor k, Tensor v, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt window_size, float scale, bool check_values=True) -> (Tensor, Tensor)
fsa::gated_combine(Tensor o_cmp, Tensor o_slc, Tensor o_swa, Tensor g_cmp, Tensor g_slc, Tensor g_swa) -> Tensor
fsa::compressed_attention_backward(Tensor do, Tensor q, Tensor k_cmp, Tensor v_cmp, Tensor o, Tensor lse, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt seqlen_k, SymInt compress_block_size, SymInt compress_stride, float scale, bool check_values=True, Tensor? dq_accumulate=None) -> (Tensor, Tensor, Tensor)
fsa::selected_attention_backward(Tensor do, Tensor q, Tensor k, Tensor v, Tensor indices, Tensor o, Tensor lse, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt select_block_size, float scale, bool check_values=True, bool deterministic=True, Tensor? dq_accumulate=None) -> (Tensor, Tensor, Tensor)
fsa::window_attention_backward(Tensor do, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, SymInt window_size, float scale, bool check_values=True, Tensor? dq_accumulate=None) -> (Tensor, Tensor, Tensor)
fsa::gated_combine_backward(Tensor do, Tensor o_cmp, Tensor o_slc, Tensor o_swa, Tensor g_cmp, Tensor g_slc, Tensor g_swa) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)""")


@given(problems(max_len=96, head_dims=(16, 32), dtypes=[torch.float32]))
def test_opcheck_every_op(p):
    t = p.tensors(requires_grad=True)
    for name, args in op_calls(p, t, p.random_indices()):
        torch.library.opcheck(getattr(fsa, name).default, args)


@settings(max_examples=4)
@given(problems(max_len=96, head_dims=(16, 32), dtypes=[torch.float32]))
def test_opcheck_selected_nondeterministic(p):
    """The selected ops with deterministic=False: schema, fake impl, autograd."""
    t = p.tensors(requires_grad=True)
    for name, args in op_calls(p, t, p.random_indices()):
        if name.startswith("selected_attention"):
            torch.library.opcheck(getattr(fsa, name).default, (*args, True, False))


@settings(max_examples=4)
@given(problems(max_len=96, head_dims=(16, 32), dtypes=[torch.float32]))
def test_backward_dq_accumulate(p):
    """The attention backward ops with dq_accumulate (the selected one with either
    deterministic flag): schema, fake impl (opcheck), and dq = the op's own dq +
    dq_accumulate, dk and dv unchanged."""
    t = p.tensors(requires_grad=True)
    for name, args in op_calls(p, t, p.random_indices()):
        if name not in ("compressed_attention_backward", "window_attention_backward",
                        "selected_attention_backward"):
            continue
        op = getattr(fsa, name).default
        addend = torch.randn_like(args[1])
        flag_sets = [{}, {"deterministic": False}] if name.startswith("selected") else [{}]
        for flags in flag_sets:
            torch.library.opcheck(op, args, {"dq_accumulate": addend, **flags})
            dq, dk, dv = op(*args, **flags)
            dq_sum, dk_sum, dv_sum = op(*args, dq_accumulate=addend, **flags)
            assert rel_error(dq_sum, dq + addend) <= REL_TOL[torch.float32], (name, flags)
            if not flags:           # float32 atomics: dk and dv may differ in the last bits
                assert torch.equal(dk_sum, dk) and torch.equal(dv_sum, dv), name


class RecordOps(TorchDispatchMode):
    """Records every op call as (name, {argument name: value}), positional and keyword
    arguments bound to the schema's names."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        names = (a.name for a in func._schema.arguments)
        self.calls.append((func.name(), dict(zip(names, args), **kwargs)))
        return func(*args, **kwargs)


@pytest.mark.parametrize("deterministic", [True, False])
def test_deterministic_flag_reaches_the_selected_backward(deterministic):
    """nsa_attention(deterministic=...) -> selected_attention and, through
    functional._LateSelected, selected_attention_backward, recorded at the dispatcher; the
    other backward ops take no such flag."""
    p = Problem(batch=2, q_lens=[70, 70], k_lens=[70, 70], packed=False, num_kv_heads=2, group=3,
                head_dim=16, compress_block_size=32, compress_stride=16, select_block_size=16,
                num_selected_blocks=3, num_init_blocks=1, num_local_blocks=1, window_size=20,
                dtype=torch.float32, seed=5)
    t = p.tensors(requires_grad=True)
    names = ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc", "g_swa")
    with RecordOps() as record:
        out = fsa_ops.nsa_attention(*(t[n] for n in names), **p.block_kwargs(),
                                    deterministic=deterministic)
        out.sum().backward()
    calls = dict(record.calls)
    for op in ("fsa::selected_attention", "fsa::selected_attention_backward"):
        bound = calls[op]
        assert bound.get("deterministic", True) is deterministic, (op, bound)
        assert bound.get("check_values", True) is False, op
    assert "fsa::window_attention_backward" in calls


def test_selected_backward_runs_after_the_other_branches():
    """nsa_attention's backward, as the dispatcher sees it: gated_combine's first, then the
    window and compressed branches', the selected branch's last, so the range branches' saved
    outputs and incoming gradients are freed before the selected backward, the layer's memory
    peak; each branch after the first adds the dq before it through its op's dq_accumulate
    (functional._LateSelected, _LateCompressed, _LateWindow). The gradients are the oracle's."""
    p = Problem(batch=1, q_lens=[90], k_lens=[90], packed=False, num_kv_heads=2, group=2,
                head_dim=16, compress_block_size=32, compress_stride=16, select_block_size=16,
                num_selected_blocks=3, num_init_blocks=1, num_local_blocks=1, window_size=20,
                dtype=f64, seed=3)
    t = p.tensors(requires_grad=True)
    inputs = [t[n] for n in ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc", "g_swa")]
    o, idx = fsa_ops.nsa_attention(*inputs, **p.block_kwargs(), return_indices=True)
    do = torch.randn_like(o)
    with RecordOps() as record:
        grads = torch.autograd.grad(o, inputs, do)
    calls = [(name, bound.get("dq_accumulate") is not None) for name, bound in record.calls
             if name.endswith("_backward")]
    assert calls == [("fsa::gated_combine_backward", False),
                     ("fsa::window_attention_backward", False),
                     ("fsa::compressed_attention_backward", True),
                     ("fsa::selected_attention_backward", True)]
    expected = torch.autograd.grad(R.nsa_attention(*inputs, **p.block_kwargs(), indices=idx),
                                   inputs, do)
    for name, got, want in zip(("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc", "g_swa"),
                               grads, expected):
        assert rel_error(got, want) <= REL_TOL[f64], name


# ----------------------------------------------------------------------------- gradients

@settings(max_examples=8)
@given(problems(max_len=40, head_dims=(16,), groups=(1, 2, 3), dtypes=[f64], max_batch=1))
def test_gradcheck_float64(p):
    t = p.tensors(requires_grad=True)
    cu_q, cu_k = p.cu_seqlens()
    idx = p.random_indices()
    checks = {
        "compressed_attention": (lambda q, kc, vc: fsa.compressed_attention(
            q, kc, vc, cu_q, cu_k, p.seqlen_k, p.compress_block_size, p.compress_stride,
            p.scale)[0], ("q", "k_cmp", "v_cmp")),
        "selected_attention": (lambda q, k, v: fsa.selected_attention(
            q, k, v, idx, cu_q, cu_k, p.select_block_size, p.scale)[0], ("q", "k", "v")),
        "window_attention": (lambda q, k, v: fsa.window_attention(
            q, k, v, cu_q, cu_k, p.window_size, p.scale)[0], ("q", "k", "v")),
        "gated_combine": (lambda a, b, c, g1, g2, g3: fsa.gated_combine(a, b, c, g1, g2, g3),
                          ("q", "q", "q", "g_cmp", "g_slc", "g_swa")),
    }
    for name, (fn, inputs) in checks.items():
        args = []
        for n in inputs:
            x = t[n].detach().clone()
            if n == "q" and name == "gated_combine":
                x = torch.randn_like(x)
            args.append(x.requires_grad_())
        assert torch.autograd.gradcheck(fn, tuple(args), eps=1e-6, atol=1e-5, rtol=1e-4,
                                        fast_mode=True), name


@given(problems(max_len=120, dtypes=[f64]))
def test_reference_backward_matches_autograd(p):
    """The analytic backward of the oracle equals autograd through its forward."""
    t = p.tensors(requires_grad=True)
    cu_q, cu_k = p.cu_seqlens()
    idx = p.random_indices()
    cases = [
        (lambda q, k, v: R.compressed_attention(q, k, v, cu_q, cu_k, p.seqlen_k,
                                                p.compress_block_size, p.compress_stride, p.scale),
         lambda do, q, k, v: R.compressed_attention_backward(
             do, q, k, v, cu_q, cu_k, p.seqlen_k, p.compress_block_size, p.compress_stride,
             p.scale), ("q", "k_cmp", "v_cmp")),
        (lambda q, k, v: R.selected_attention(q, k, v, idx, cu_q, cu_k, p.select_block_size, p.scale),
         lambda do, q, k, v: R.selected_attention_backward(do, q, k, v, idx, cu_q, cu_k,
                                                           p.select_block_size, p.scale),
         ("q", "k", "v")),
        (lambda q, k, v: R.window_attention(q, k, v, cu_q, cu_k, p.window_size, p.scale),
         lambda do, q, k, v: R.window_attention_backward(do, q, k, v, cu_q, cu_k, p.window_size,
                                                         p.scale), ("q", "k", "v")),
    ]
    for forward, backward, names in cases:
        args = [t[n] for n in names]
        o, _ = forward(*args)
        do = torch.randn_like(o)
        if o.requires_grad:
            expected = torch.autograd.grad(o, args, do, allow_unused=True)
        else:                                   # no query at all: nothing depends on the inputs
            expected = [None] * len(args)
        got = backward(do, *(a.detach() for a in args))
        for e, g in zip(expected, got):
            e = torch.zeros_like(g) if e is None else e
            assert rel_error(g, e) <= REL_TOL[f64]
    gates = [t[n] for n in ("g_cmp", "g_slc", "g_swa")]
    branches = [torch.randn_like(t["q"]).requires_grad_() for _ in range(3)]
    o = R.gated_combine(*branches, *gates)
    do = torch.randn_like(o)
    expected = torch.autograd.grad(o, branches + gates, do)
    got = R.gated_combine_backward(do, *(x.detach() for x in branches + gates))
    for e, g in zip(expected, got):
        assert rel_error(g, e) <= REL_TOL[f64]


# ----------------------------------------------------------------------------- ops vs oracle

@given(problems(max_len=160))
def test_ops_match_float64_oracle(p):
    """Every op at p.dtype against the float64 oracle on the same (rounded) inputs."""
    t = p.tensors()
    ref_t = {k: v.double() for k, v in t.items()}
    out = fsa_ops.nsa_attention(t["q"], t["k"], t["v"], t["k_cmp"], t["v_cmp"], t["g_cmp"],
                                t["g_slc"], t["g_swa"], **p.block_kwargs(),
                                cu_seqlens_q=p.cu_seqlens()[0], cu_seqlens_k=p.cu_seqlens()[1],
                                return_indices=True)
    o, idx = out
    cu_q, cu_k = p.cu_seqlens()
    keys = R.block_selection_keys(ref_t["q"], ref_t["k_cmp"], cu_q, cu_k, p.seqlen_k,
                                  p.compress_block_size, p.compress_stride, p.select_block_size,
                                  p.num_init_blocks, p.num_local_blocks, p.scale)
    assert selection_gap(idx, keys) <= REL_TOL[p.dtype]
    ref = R.nsa_attention(*(ref_t[n] for n in ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc",
                                                "g_swa")), **p.block_kwargs(), cu_seqlens_q=cu_q,
                          cu_seqlens_k=cu_k, indices=idx)
    assert o.dtype == p.dtype and o.shape == t["q"].shape
    assert rel_error(o, ref) <= REL_TOL[p.dtype]


@given(problems(max_len=160, dtypes=[f64], packed=True))
def test_packed_equals_one_sequence_at_a_time(p):
    t = p.tensors()
    cu_q, cu_k = p.cu_seqlens()
    names = ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc", "g_swa")
    o, idx = R.nsa_attention(*(t[n] for n in names), **p.block_kwargs(), cu_seqlens_q=cu_q,
                             cu_seqlens_k=cu_k, return_indices=True)
    q0 = k0 = 0
    for lq, lk in zip(p.q_lens, p.k_lens):
        first, rows = k0 // p.compress_stride, R.num_compressed_keys(lk, p.compress_block_size,
                                                                      p.compress_stride)
        alone = {n: t[n][:, q0:q0 + lq] for n in ("q", "g_cmp", "g_slc", "g_swa")}
        alone.update({n: t[n][:, k0:k0 + lk] for n in ("k", "v")})
        alone.update({n: t[n][:, first:first + rows] for n in ("k_cmp", "v_cmp")})
        o_s, idx_s = R.nsa_attention(*(alone[n] for n in names), **p.block_kwargs(),
                                     return_indices=True)
        assert torch.equal(idx[:, q0:q0 + lq], idx_s)
        assert rel_error(o[:, q0:q0 + lq], o_s) <= REL_TOL[f64]
        q0, k0 = q0 + lq, k0 + lk


@given(problems(max_len=160, dtypes=[f64], packed=False), st.data())
def test_queries_behind_keys_equal_the_last_rows(p, data):
    """Running only the last Tq queries gives the last Tq rows of the full computation."""
    t = p.tensors()
    full_q = {n: t[n] for n in ("q", "g_cmp", "g_slc", "g_swa")}
    if p.seqlen_q < p.seqlen_k:       # draw the missing leading queries
        extra = p.seqlen_k - p.seqlen_q
        full_q = {n: torch.cat([torch.randn_like(x[:, :1]).expand(-1, extra, *x.shape[2:]), x], 1)
                  for n, x in full_q.items()}
    names = ("q", "k", "v", "k_cmp", "v_cmp", "g_cmp", "g_slc", "g_swa")
    tq = data.draw(st.integers(1, p.seqlen_k))
    whole = {**t, **full_q}
    o_full, idx_full = R.nsa_attention(*(whole[n] for n in names), **p.block_kwargs(),
                                       return_indices=True)
    tail = {**t, **{n: x[:, -tq:] for n, x in full_q.items()}}
    o_tail, idx_tail = R.nsa_attention(*(tail[n] for n in names), **p.block_kwargs(),
                                       return_indices=True)
    assert torch.equal(idx_tail, idx_full[:, -tq:])
    assert rel_error(o_tail, o_full[:, -tq:]) <= REL_TOL[f64]


# ----------------------------------------------------------------------------- SPEC formula

@settings(max_examples=10)
@given(problems(max_len=70, head_dims=(16,), groups=(1, 2, 3), dtypes=[f64], packed=False,
                max_batch=1))
def test_block_scores_follow_the_spec_formula(p):
    """score[t,g,j] = sum over the group's heads h and visible i of p[t,h,i] |span(i) ∩ block(j)| / d,
    written as plain loops."""
    t = p.tensors()
    q, k_cmp = t["q"][0], t["k_cmp"][0]
    scores = R.block_scores(t["q"], t["k_cmp"], None, None, p.seqlen_k, p.compress_block_size,
                            p.compress_stride, p.select_block_size, p.scale)[0]
    l, d, lp = p.compress_block_size, p.compress_stride, p.select_block_size
    offset = p.seqlen_k - p.seqlen_q
    for row, g in itertools.product(range(p.seqlen_q), range(p.num_kv_heads)):
        pos = offset + row
        visible = [i for i in range(k_cmp.shape[0]) if i * d + l - 1 <= pos]
        expect = torch.zeros(scores.shape[-1], dtype=f64)
        for h in range(g * p.group, (g + 1) * p.group):
            if not visible:
                continue
            logits = torch.stack([q[row, h] @ k_cmp[i, g] * p.scale for i in visible])
            probs = torch.softmax(logits, 0)
            for prob, i in zip(probs, visible):
                for j in range(scores.shape[-1]):
                    span = set(range(i * d, i * d + l)) & set(range(j * lp, (j + 1) * lp))
                    expect[j] += prob * len(span) / d
        assert torch.allclose(scores[row, g], expect, atol=1e-12), (row, g)
