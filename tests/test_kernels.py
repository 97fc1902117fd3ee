"""The Triton kernels, forward and backward, against the float64 oracle.

Runs where Triton runs: on a CUDA GPU, or on the CPU through the interpreter when the suite is
started with TRITON_INTERPRET=1 (then the ops' CPU kernels are the Triton launchers).
Before each call the allocator is flooded with NaN, so an output element a kernel forgets to
write shows up as NaN and fails the comparison.
"""


import pytest
import torch
from hypothesis import assume, given, settings

import fsa_ops
from fsa_ops import reference as R
from fsa_ops.testing import REL_TOL, attention_gradient_floors, rel_error, selection_gap
from strategies import Problem, problems

try:
    from fsa_ops.kernels.common import MODE_COMPRESSED, MODE_WINDOW
    from fsa_ops.kernels.range_attention import range_attention_backward, range_attention_forward
    from fsa_ops.kernels.select_blocks import select_blocks_forward
    from fsa_ops.kernels.selected_attention import (selected_attention_backward,
                                                    selected_attention_forward)
    import triton
    import triton.language as tl
    from fsa_ops.kernels.select_blocks import P_SHIFT, _absorb, split_dot

    @triton.jit
    def _split_dot_kernel(P, W, OUT, HALF: tl.constexpr, M: tl.constexpr, K: tl.constexpr,
                          N: tl.constexpr):
        """P [M, K], W [K, N] float32 contiguous -> OUT [M, N] = split_dot(P, W)."""
        m, k, n = tl.arange(0, M), tl.arange(0, K), tl.arange(0, N)
        p = tl.load(P + m[:, None] * K + k[None, :])
        w = tl.load(W + k[:, None] * N + n[None, :])
        tl.store(OUT + m[:, None] * N + n[None, :], split_dot(p, w, False, HALF))

    @triton.jit
    def _top_n_kernel(SCORES, OUT, num_chunks, num_selected, T: tl.constexpr, NB: tl.constexpr,
                      NP: tl.constexpr, FILL: tl.constexpr, SORTED: tl.constexpr,
                      PAIRED_TOP: tl.constexpr):
        """SCORES [num_chunks, T, NB] float32 (chunk c: blocks c * NB + b; -inf: not a
        candidate) -> OUT [T, NP] int32: each token's top n blocks after _absorb took every
        chunk in order, -1 in empty and unused slots."""
        t, b, col = tl.arange(0, T), tl.arange(0, NB), tl.arange(0, NP)
        best_s = tl.where(col[None, :] < num_selected, float("-inf"), float("inf")) + tl.zeros([T, NP], tl.float32)
        best_j = (-1 - col[None, :]) + tl.zeros([T, NP], tl.int32)
        for c in range(num_chunks):
            chunk = tl.load(SCORES + c * T * NB + t[:, None] * NB + b[None, :])
            best_s, best_j = _absorb(best_s, best_j, chunk, c * NB, b, chunk > float("-inf"),
                                     FILL, SORTED, PAIRED_TOP)
        kept = (best_s > float("-inf")) & (col[None, :] < num_selected)
        tl.store(OUT + t[:, None] * NP + col[None, :], tl.where(kept, best_j, -1))
except ImportError:          # no Triton: the module's tests are skipped anyway
    selected_attention_backward = selected_attention_forward = select_blocks_forward = None
    range_attention_backward = range_attention_forward = MODE_COMPRESSED = MODE_WINDOW = None

pytestmark = pytest.mark.triton
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
fsa = torch.ops.fsa


def poison_allocator(device):
    """Fill freshly freed device memory with NaN so torch.empty hands out NaN."""
    if device == "cuda":
        junk = torch.full((64 << 20,), float("nan"), device=device)
        del junk


def attention_calls(p: Problem, indices, cu_q, cu_k):
    """name -> function of a tensor dict giving (the op's tensor inputs, its other arguments):
    op(*inputs, *args) and op_backward(do, *inputs, o, lse, *args)."""
    return {
        "compressed_attention": lambda x: ((x["q"], x["k_cmp"], x["v_cmp"]),
                                           (cu_q, cu_k, p.seqlen_k, p.compress_block_size,
                                            p.compress_stride, p.scale)),
        "window_attention": lambda x: ((x["q"], x["k"], x["v"]),
                                       (cu_q, cu_k, p.window_size, p.scale)),
        "selected_attention": lambda x: ((x["q"], x["k"], x["v"], indices),
                                         (cu_q, cu_k, p.select_block_size, p.scale)),
    }


def problem_inputs(p: Problem, device, edit=None):
    """p's tensors and random selection on `device`; `edit(tensors, indices)` may reshape their
    values (tests/test_numerics.py) before anything runs."""
    t, indices = p.tensors(device=device), p.random_indices(device)
    return edit(t, indices) if edit else (t, indices)


def three_chunks(q):
    """Token chunk size that cuts q's rows into (up to) three chunks: the launchers' multi-chunk
    path at test sizes (every chunk costs a few launches, which the interpreter runs slowly)."""
    return max(1, -(-q.shape[1] // 3))


def run_forward_ops(p: Problem, device, oracle_dtype=torch.float64, edit=None):
    """Every forward op with a Triton kernel, on p.dtype tensors; returns {name: (out, ref)}.
    The oracle runs in `oracle_dtype` (float32 for long GPU cases: its own error, ~1e-6, is far
    below every bound, and float64 would dominate the suite's time)."""
    t, indices = problem_inputs(p, device, edit)
    ref_t = {k: v.to(oracle_dtype) for k, v in t.items()}
    cu_q, cu_k = p.cu_seqlens(device)
    results = {}
    for name, call in attention_calls(p, indices, cu_q, cu_k).items():
        poison_allocator(device)
        inputs, args = call(t)
        ref_inputs, ref_args = call(ref_t)
        o, lse = getattr(fsa, name)(*inputs, *args)
        o_ref, lse_ref = getattr(R, name)(*ref_inputs, *ref_args)
        results[name] = ((o, o_ref), (lse, lse_ref))
        if name == "selected_attention":
            # Three token chunks and two tiles per program: the multi-chunk path that long
            # sequences take, with partial buffers reused from chunk to chunk.
            poison_allocator(device)
            o, lse = selected_attention_forward(*inputs, *args, piece_tiles=2,
                                                chunk_tokens=three_chunks(inputs[0]))
            results[name + " (token chunks)"] = ((o, o_ref), (lse, lse_ref))
            # The same chunks, each chunk's merge in the launch of the next one's partials.
            poison_allocator(device)
            o, lse = selected_attention_forward(*inputs, *args, piece_tiles=2, overlap_merge=True,
                                                chunk_tokens=three_chunks(inputs[0]))
            results[name + " (token chunks, merge overlapped)"] = ((o, o_ref), (lse, lse_ref))
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


def run_backward_ops(p: Problem, device, oracle_dtype=torch.float64, edit=None, do_scale=1.0):
    """Every backward op on p.dtype tensors (o and lse from the kernels' own forward, a random
    upstream gradient times do_scale), against the oracle's backward: {name: [(grad, ref), ...]}. The
    selected backward also runs with one tile per piece and in three token chunks, so blocks
    picked by several tiles take the piece-reduction path and dK/dV sum over token chunks
    even at small T, and with deterministic=False (float32 atomics), both with a dq_accumulate
    (its dq is then the oracle's plus it); the compressed backward with its dK/dV query range
    split in three (float32 partials), which long sequences use."""
    t, indices = problem_inputs(p, device, edit)
    ref_t = {k: v.to(oracle_dtype) for k, v in t.items()}
    cu_q, cu_k = p.cu_seqlens(device)
    gen = torch.Generator().manual_seed(p.seed + 2)
    results = {}
    for name, call in attention_calls(p, indices, cu_q, cu_k).items():
        inputs, args = call(t)
        o, lse = getattr(fsa, name)(*inputs, *args)
        do = (do_scale * torch.randn(o.shape, generator=gen)).to(device=device, dtype=p.dtype)
        poison_allocator(device)
        grads = getattr(fsa, name + "_backward")(do, *inputs, o, lse, *args)
        ref_inputs, ref_args = call(ref_t)
        ref_do = do.to(oracle_dtype)
        refs = getattr(R, name + "_backward")(ref_do, *ref_inputs, *ref_args)
        floors = attention_gradient_floors(getattr(R, name), getattr(R, name + "_backward"),
                                           ref_inputs, ref_args, ref_do, p.scale)
        refs = list(zip(refs, floors))
        results[name] = list(zip(grads, refs))
        if name == "selected_attention":
            addend = torch.randn(o.shape, generator=gen).to(device=device, dtype=p.dtype)
            refs_added = [(refs[0][0] + addend.to(oracle_dtype), refs[0][1]), *refs[1:]]
            poison_allocator(device)
            chunked = selected_attention_backward(do, *inputs, o, lse, *args, chunk_entries=1,
                                                  chunk_tokens=three_chunks(inputs[0]),
                                                  dq_accumulate=addend)
            results[name + " (piece per tile, token chunks, dq_accumulate)"] = list(
                zip(chunked, refs_added))
            poison_allocator(device)
            atomic = fsa.selected_attention_backward(do, *inputs, o, lse, *args, False, False,
                                                     addend)
            results[name + " (deterministic=False, dq_accumulate)"] = list(zip(atomic, refs_added))
        if name == "compressed_attention" and p.dtype != torch.float64:
            poison_allocator(device)
            split = range_attention_backward(
                do, *(x.contiguous() for x in (*inputs, o, lse)), *args[:2], p.seqlen_k,
                MODE_COMPRESSED, 0, p.compress_block_size, p.compress_stride, p.scale,
                query_splits=3)
            results[name + " (query splits)"] = list(zip(split, refs))
    poison_allocator(device)
    branches = [torch.randn(t["q"].shape, generator=gen).to(device, p.dtype) for _ in range(4)]
    gates = [t["g_cmp"], t["g_slc"], t["g_swa"]]
    grads = fsa.gated_combine_backward(branches[3], *branches[:3], *gates)
    refs = R.gated_combine_backward(*(x.to(oracle_dtype) for x in [branches[3], *branches[:3], *gates]))
    results["gated_combine"] = list(zip(grads, [(r, 0.0) for r in refs]))
    return results


def check_backward(p: Problem, results):
    for name, pairs in results.items():
        for which, (grad, (ref, floor)) in zip(("dq", "dk", "dv", "d g_cmp", "d g_slc", "d g_swa"),
                                               pairs):
            assert grad.dtype == p.dtype and grad.shape == ref.shape, (name, which)
            err = rel_error(grad, ref, floor)
            assert err <= REL_TOL[p.dtype], (name, which, err)


def check_results(p: Problem, results, selection_gap_bound=None):
    """selection_gap_bound: how far the selection may fall short of the best (REL_TOL by
    default; any finite bound still requires a valid selection)."""
    gap = results.pop("select_blocks")
    bound = REL_TOL[p.dtype] if selection_gap_bound is None else selection_gap_bound
    assert gap <= bound, ("select_blocks", gap)
    for name, pairs in results.items():
        (o, o_ref), *rest = pairs
        assert o.dtype == p.dtype, name
        assert rel_error(o, o_ref) <= REL_TOL[p.dtype], (name, rel_error(o, o_ref))
        for lse, lse_ref in rest:
            # -inf exactly where the oracle has no visible key; elsewhere close: absolutely
            # for |lse| <= 1, relatively beyond (scores of 1e10 carry float32's rounding).
            assert torch.equal(torch.isneginf(lse.cpu()), torch.isneginf(lse_ref.cpu())), name
            finite = torch.isfinite(lse_ref)
            assert torch.isfinite(lse[finite]).all(), name
            ref = lse_ref[finite].double()
            err = ((lse[finite].double() - ref).abs() / ref.abs().clamp(min=1)).max().item() \
                if finite.any() else 0
            assert err <= 50 * REL_TOL[p.dtype], (name, "lse", err)


# (l, d, l', n, init, local, G, packed, tokens): n below the valid blocks and more blocks
# than one chunk of the kernel holds (15 at l'/d = 4), l > l', l' = d, no forced blocks.
SELECTION_GEOMETRIES = [(32, 16, 64, 4, 1, 2, 1, False, 1100), (16, 16, 16, 5, 0, 1, 3, True, 420),
                        (64, 16, 32, 3, 1, 1, 2, False, 600), (48, 16, 16, 6, 2, 2, 1, True, 380),
                        (32, 8, 64, 8, 0, 0, 4, False, 700)]


@pytest.mark.parametrize("geometry", SELECTION_GEOMETRIES, ids=lambda g: "-".join(map(str, g)))
def test_select_blocks_geometries(geometry):
    """The select_blocks kernel's chunk/weight arithmetic for block geometries other than
    the defaults, against the float64 oracle's block scores (float32 inputs: the selection
    must be optimal up to float32 rounding)."""
    l, d, lp, n, init, local, group, packed, tokens = geometry
    gen = torch.Generator().manual_seed(tokens)
    if packed:
        lens = [tokens // 2, 0, 1, tokens - tokens // 2 - 1]
        cu = torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32)
        batch, rows, cu = 1, tokens // d, cu.to(DEVICE)
    else:
        batch, rows, cu = 2, R.num_compressed_keys(tokens, l, d), None
    q = 2 * torch.randn(batch, tokens, 2 * group, 32, generator=gen)
    k_cmp = torch.randn(batch, rows, 2, 32, generator=gen)
    q, k_cmp = q.to(DEVICE), k_cmp.to(DEVICE)
    args = (cu, cu, tokens, l, d)
    _, lse = fsa.compressed_attention(q, k_cmp, k_cmp, *args, 32 ** -0.5)
    poison_allocator(DEVICE)
    indices = fsa.select_blocks(q, k_cmp, lse, *args, lp, n, init, local, 32 ** -0.5)
    keys = R.block_selection_keys(q.double(), k_cmp.double(), *args, lp, init, local, 32 ** -0.5)
    assert selection_gap(indices, keys) <= 1e-5


# Selection with small chunks: l = 16, d = 8 (R = 2), l' = 16 (U = 2) and 16 keys a chunk give
# 7 blocks (112 tokens) a chunk; n = 10 >= 7 takes the first chunk into the top-n directly.
SMALL_CHUNKS = dict(keys_per_chunk=16)
SMALL_CHUNK_GEOMETRY = (16, 8, 16, 10, 1, 1)       # l, d, l', n, init, local


def small_chunk_inputs(packed, gen):
    """(q [B, Tq, 3, 32], k_cmp [B, rows, 1, 32], cu_seqlens or None, seqlen_k), float32, G = 3,
    queries behind keys; long enough that tiles past ~240 keys run masked, unmasked and masked
    chunks."""
    l, d = SMALL_CHUNK_GEOMETRY[:2]
    if packed:
        q_lens, k_lens = [300, 7, 0, 200], [340, 7, 0, 200]
        cu_q = torch.tensor([0] + torch.tensor(q_lens).cumsum(0).tolist(), dtype=torch.int32)
        cu_k = torch.tensor([0] + torch.tensor(k_lens).cumsum(0).tolist(), dtype=torch.int32)
        batch, tq, rows, seqlen_k, cu = 1, sum(q_lens), sum(k_lens) // d, sum(k_lens), (cu_q, cu_k)
    else:
        batch, tq, seqlen_k, cu = 2, 300, 340, (None, None)
        rows = R.num_compressed_keys(seqlen_k, l, d)
    q = torch.randn(batch, tq, 3, 32, generator=gen)
    k_cmp = torch.randn(batch, rows, 1, 32, generator=gen)
    return q, k_cmp, [None if x is None else x.to(DEVICE) for x in cu], seqlen_k


@pytest.mark.parametrize("sorted_topn", [False, True], ids=["plain", "sorted"])
@pytest.mark.parametrize("packed", [False, True])
def test_select_blocks_small_chunks(packed, sorted_topn):
    """select_blocks with 7-block chunks against the float64 oracle's block
    scores: at these lengths the chunk loop runs all three of its parts (masked start,
    unmasked middle, masked end; select_blocks' docstring), which the default chunks reach
    only past ~2K tokens. The selection must be optimal up to float32 rounding."""
    l, d, lp, n, init, local = SMALL_CHUNK_GEOMETRY
    q, k_cmp, (cu_q, cu_k), seqlen_k = small_chunk_inputs(packed, torch.Generator().manual_seed(21))
    q, k_cmp = 2 * q.to(DEVICE), k_cmp.to(DEVICE)
    args = (cu_q, cu_k, seqlen_k, l, d)
    _, lse = fsa.compressed_attention(q, k_cmp, k_cmp, *args, 32 ** -0.5)
    poison_allocator(DEVICE)
    indices = select_blocks_forward(q, k_cmp, lse, *args, lp, n, init, local, 32 ** -0.5,
                                    sorted_topn=sorted_topn, paired_top=sorted_topn, **SMALL_CHUNKS)
    keys = R.block_selection_keys(q.double(), k_cmp.double(), *args, lp, init, local, 32 ** -0.5)
    assert selection_gap(indices, keys) <= 1e-5


@pytest.mark.parametrize("sorted_topn", [False, True], ids=["plain", "sorted"])
@pytest.mark.parametrize("packed", [False, True])
def test_select_blocks_exact_ties(packed, sorted_topn):
    """Exactly tied block scores go to the smaller block, as in the oracle: the indices must
    equal the oracle's. Every query and key points along one direction, a few keys with
    +400 and the rest with -400 (exp(-800) is 0 in float64 too): each token's visible
    +400 keys share its softmax equally and every other block scores exactly 0."""
    l, d, lp, n, init, local = SMALL_CHUNK_GEOMETRY
    q, k_cmp, (cu_q, cu_k), seqlen_k = small_chunk_inputs(packed, torch.Generator().manual_seed(22))
    direction = torch.ones(32) / 32 ** 0.5
    q = 20 * direction.expand_as(q).clone()
    sign = torch.full(k_cmp.shape[:3], -1.0)
    sign[:, ::23] = 1.0                 # keys 0, 23, 46, ...: about one block in six
    k_cmp = 20 * sign[..., None] * direction
    q, k_cmp = q.to(DEVICE), k_cmp.to(DEVICE)
    args = (cu_q, cu_k, seqlen_k, l, d)
    _, lse = fsa.compressed_attention(q, k_cmp, k_cmp, *args, 1.0)
    poison_allocator(DEVICE)
    indices = select_blocks_forward(q, k_cmp, lse, *args, lp, n, init, local, 1.0,
                                    sorted_topn=sorted_topn, paired_top=sorted_topn, **SMALL_CHUNKS)
    ref = R.select_blocks(q.double(), k_cmp.double(), None, *args, lp, n, init, local, 1.0)
    assert torch.equal(indices.cpu(), ref.cpu())


@pytest.mark.parametrize("half", [True, False], ids=["float16x2", "bfloat16x3"])
def test_split_dot_precision(half):
    """select_blocks' weight product against float64. Probabilities from e^-40 to 1, scaled by
    2^P_SHIFT as the kernel scales them, times small integer weights (overlaps, 0..4). Both
    splits must keep ~float32 accuracy: the float16 one through the scaling, since its terms
    would underflow below 6e-5 unscaled. Rows of 64 keys, as in the kernel."""
    if not half and DEVICE == "cpu":
        pytest.skip("the interpreter's bfloat16 products are wrong (kernels.common)")
    gen = torch.Generator().manual_seed(5)
    p = torch.exp(-40 * torch.rand(32, 64, generator=gen, dtype=torch.float64)) * 2.0 ** P_SHIFT.value
    w = torch.randint(0, 5, (64, 16), generator=gen).double()
    out = torch.full((32, 16), float("nan"), device=DEVICE)
    _split_dot_kernel[(1,)](p.float().to(DEVICE), w.float().to(DEVICE), out, HALF=half, M=32, K=64, N=16)
    ref = p.float().double() @ w          # the float32 inputs, exactly
    err = ((out.cpu().double() - ref).abs() / ref.clamp(min=1e-3)).max().item()
    assert err <= 1e-6, err


@pytest.mark.parametrize("mode", ["plain", "sorted", "sorted-paired"])
@pytest.mark.parametrize("n,block_b,fill", [(1, 4, False), (2, 4, False), (3, 4, False),
                                            (16, 16, True), (5, 8, False)])
def test_top_n_rounds_match_a_sort(n, block_b, fill, mode):
    """_absorb's insertion rounds, each way, against a sort of all blocks by (score desc, block
    asc): scores from a few values (many exact ties), +inf (forced) and -inf (not a candidate),
    over 9 chunks; n from 1 (one slot) up, a chunk wider or narrower than n."""
    if n == 1 and mode != "plain":
        pytest.skip("sorted rounds need two slots: the launcher runs plain rounds for n = 1")
    gen = torch.Generator().manual_seed(n * 100 + block_b)
    tokens, chunks, slots = 16, 9, triton.next_power_of_2(n)
    values = torch.tensor([float("-inf"), 0.0, 0.5, 1.0, 2.0, float("inf")])
    weights = torch.tensor([3.0, 4.0, 3.0, 3.0, 2.0, 0.3])
    pick = torch.multinomial(weights, chunks * tokens * block_b, replacement=True, generator=gen)
    scores = values[pick].reshape(chunks, tokens, block_b)
    if fill:
        scores[0] = torch.where(torch.arange(block_b) < n - 1, scores[0], float("-inf"))
    out = torch.full((tokens, slots), -7, dtype=torch.int32, device=DEVICE)
    _top_n_kernel[(1,)](scores.to(DEVICE), out, chunks, n, T=tokens, NB=block_b, NP=slots,
                        FILL=fill, SORTED=mode != "plain", PAIRED_TOP=mode == "sorted-paired")
    flat = scores.permute(1, 0, 2).reshape(tokens, -1).tolist()       # [token][block]
    for t in range(tokens):
        valid = [j for j, score in enumerate(flat[t]) if score > float("-inf")]
        order = sorted(valid, key=lambda j: (-flat[t][j], j))
        expected = sorted(order[:n]) + [-1] * (slots - min(n, len(order)))
        got = sorted(x for x in out[t].cpu().tolist() if x >= 0) + [-1] * (out[t] < 0).sum().item()
        assert got == expected, (t, got, expected)


def test_kernels_are_registered():
    assert fsa_ops.kernels_available(DEVICE)


# The oracle tests run in ORACLE_SHARDS shards, each taking the examples whose seed falls to
# it and a share of the profile's examples: about the same examples in all, but a GPU run can
# take the shards in parallel processes (-k "oracle and shard0" ...). Compiling each example's
# kernel specializations dominates there: one process of all 20 backward examples did not
# finish within a 10-minute lease call.
ORACLE_SHARDS = 3
ORACLE_EXAMPLES = settings(max_examples=-(-settings.default.max_examples // ORACLE_SHARDS))
ORACLE_SHARD = pytest.mark.parametrize("shard", range(ORACLE_SHARDS), ids=lambda i: f"shard{i}")
ORACLE_HEAD_DIMS = (16, 32) if DEVICE == "cpu" else (16, 64, 80, 128, 256)


@ORACLE_SHARD
@ORACLE_EXAMPLES
@given(p=problems(max_len=96 if DEVICE == "cpu" else 300, head_dims=ORACLE_HEAD_DIMS))
def test_forward_kernels_match_oracle(shard, p):
    assume(p.seed % ORACLE_SHARDS == shard)
    check_results(p, run_forward_ops(p, DEVICE))


@ORACLE_SHARD
@ORACLE_EXAMPLES
@given(p=problems(max_len=80 if DEVICE == "cpu" else 300, head_dims=ORACLE_HEAD_DIMS))
def test_backward_kernels_match_oracle(shard, p):
    assume(p.seed % ORACLE_SHARDS == shard)
    check_backward(p, run_backward_ops(p, DEVICE))


def long_problem(seqlen, group, dtype, seed=0):
    return Problem(batch=1, q_lens=[seqlen], k_lens=[seqlen], packed=False, num_kv_heads=2,
                   group=group, head_dim=128, compress_block_size=32, compress_stride=16,
                   select_block_size=64, num_selected_blocks=16, num_init_blocks=1,
                   num_local_blocks=2, window_size=512, dtype=dtype, seed=seed or seqlen + group)


def packed_long_problem():
    lens = [5000, 1, 0, 3333, 7777]
    return Problem(batch=1, q_lens=lens, k_lens=lens, packed=True, num_kv_heads=4, group=5,
                   head_dim=64, compress_block_size=32, compress_stride=16, select_block_size=64,
                   num_selected_blocks=16, num_init_blocks=1, num_local_blocks=2, window_size=512,
                   dtype=torch.bfloat16, seed=7)


LONG_CASES = [(t, g, dt) for t in (1000, 4099) for g in (1, 3, 4, 16)
              for dt in (torch.bfloat16, torch.float16, torch.float32)]
LONG_CASES += [(16384, g, torch.bfloat16) for g in (1, 3, 4, 16)]
BACKWARD_LONG_CASES = [(t, g, dt) for t in (1000, 4099) for g in (1, 4, 16)
                       for dt in (torch.bfloat16, torch.float16, torch.float32)]
BACKWARD_LONG_CASES += [(16384, 4, torch.bfloat16)]


def long_case_id(case) -> str:
    """'4099-4-bfloat16': what `-k` selects on (GPU call scripts pick cases by length, G and
    dtype)."""
    seqlen, group, dtype = case
    return f"{seqlen}-{group}-{str(dtype).removeprefix('torch.')}"


@pytest.mark.parametrize("packed,dtype", [(False, torch.float32), (True, torch.bfloat16)])
def test_range_kernels_small_tiles(packed, dtype):
    """Compressed and window attention, forward and backward, with 16-key steps and 4-token
    tiles against the float64 oracle. At these lengths each tile loop runs all three of its
    parts (masked start, unmasked middle, masked end; range_attention's docstring), which the
    default tiles reach only at long lengths; queries sit behind keys, G = 3 pads the tile.
    Also the dQ kernel's dq_accumulate."""
    k_lens, q_lens = ([190, 7, 0, 121], [150, 7, 0, 121]) if packed else ([200] * 2, [170] * 2)
    p = Problem(batch=1 if packed else 2, q_lens=q_lens, k_lens=k_lens, packed=packed,
                num_kv_heads=2, group=3, head_dim=16, compress_block_size=16, compress_stride=8,
                select_block_size=16, num_selected_blocks=4, num_init_blocks=1,
                num_local_blocks=1, window_size=40, dtype=dtype, seed=13)
    t = p.tensors(device=DEVICE)
    ref_t = {k: v.double() for k, v in t.items()}
    cu_q, cu_k = p.cu_seqlens(DEVICE)
    gen = torch.Generator().manual_seed(14)
    small = dict(rows=16, block_n=16)
    small_backward = dict(dkdv_rows=16, dkdv_block_n=16, dq_rows=16, dq_block_n=16)
    for name, keys, mode_args, splits in (
            ("compressed_attention", ("k_cmp", "v_cmp"),
             (MODE_COMPRESSED, 0, p.compress_block_size, p.compress_stride), 2),
            ("window_attention", ("k", "v"), (MODE_WINDOW, p.window_size, 1, 1), 1)):
        inputs = (t["q"], t[keys[0]], t[keys[1]])
        ref_inputs = (ref_t["q"], ref_t[keys[0]], ref_t[keys[1]])
        ref_args = ((cu_q, cu_k, p.seqlen_k, p.compress_block_size, p.compress_stride, p.scale)
                    if mode_args[0] == MODE_COMPRESSED else (cu_q, cu_k, p.window_size, p.scale))
        call = (cu_q, cu_k, p.seqlen_k, *mode_args, p.scale)
        poison_allocator(DEVICE)
        o, lse = range_attention_forward(*inputs, *call, **small)
        o_ref, lse_ref = getattr(R, name)(*ref_inputs, *ref_args)
        assert rel_error(o, o_ref) <= REL_TOL[dtype], (name, rel_error(o, o_ref))
        assert torch.equal(torch.isneginf(lse.cpu()), torch.isneginf(lse_ref.cpu())), name
        do = torch.randn(o.shape, generator=gen).to(DEVICE, dtype)
        poison_allocator(DEVICE)
        grads = range_attention_backward(do, *inputs, o, lse, *call, query_splits=splits,
                                         **small_backward)
        refs = getattr(R, name + "_backward")(do.double(), *ref_inputs, *ref_args)
        floors = attention_gradient_floors(getattr(R, name), getattr(R, name + "_backward"),
                                           ref_inputs, ref_args, do.double(), p.scale)
        check_backward(p, {name: list(zip(grads, zip(refs, floors)))})
        # dq_accumulate: added into dq by the dQ kernel; dK and dV are the same bits.
        addend = torch.randn(o.shape, generator=gen).to(DEVICE, dtype)
        poison_allocator(DEVICE)
        summed = range_attention_backward(do, *inputs, o, lse, *call, query_splits=splits,
                                          dq_accumulate=addend, **small_backward)
        assert torch.equal(summed[1], grads[1]) and torch.equal(summed[2], grads[2]), name
        check_backward(p, {name + " (dq_accumulate)": [
            (summed[0], (refs[0] + addend.double(), floors[0]))]})


def boundary_selection(q_len, k_len, num_kv_heads, block):
    """indices [1, q_len, num_kv_heads, 3]: at kv head h, a query at position pos (pos = the
    token + k_len - q_len) picks its own block only if pos % block >= h, the block before it,
    and block 0 from the third block on (else -1). So at head h every block's group of
    entries starts with the query at offset h into the block: the selected kernels' tiles
    start there, on every offset from 0 to block - 1 across the heads."""
    pos = torch.arange(q_len) + k_len - q_len
    own = pos // block
    slots = torch.stack([own, own - 1, torch.where(own >= 2, 0, -1)], -1)     # [q_len, 3]
    h = torch.arange(num_kv_heads)[:, None]
    own_ok = (pos % block)[None, :] >= h                                        # [Hkv, q_len]
    indices = slots[None].repeat(num_kv_heads, 1, 1)
    indices[..., 0] = torch.where(own_ok, indices[..., 0], -1)
    return indices.permute(1, 0, 2)[None].int().contiguous()


BOUNDARY_BLOCK, BOUNDARY_DIM = 16, 16


def check_boundary_forward(group, behind, num_kv_heads, k_len, seed, d=BOUNDARY_DIM, **knobs):
    """boundary_selection (block 16, head dim d, G = group, queries `behind` keys) in float32
    through selected_attention_forward with `knobs`, against the float64 oracle. Returns
    (gen, the inputs on DEVICE, the oracle's float64 inputs, o, lse) for a backward check."""
    block = BOUNDARY_BLOCK
    q_len = k_len - behind
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(1, q_len, num_kv_heads * group, d, generator=gen)
    k, v = (torch.randn(1, k_len, num_kv_heads, d, generator=gen) for _ in range(2))
    indices = boundary_selection(q_len, k_len, num_kv_heads, block)
    ref_inputs = (q.double(), k.double(), v.double(), indices)
    o_ref, lse_ref = R.selected_attention(*ref_inputs, None, None, block, d ** -0.5)
    inputs = tuple(x.to(DEVICE) for x in (q, k, v, indices))
    poison_allocator(DEVICE)
    o, lse = selected_attention_forward(*inputs, None, None, block, d ** -0.5, **knobs)
    assert rel_error(o, o_ref) <= REL_TOL[torch.float32], rel_error(o, o_ref)
    assert torch.equal(torch.isneginf(lse.cpu()), torch.isneginf(lse_ref))
    finite = torch.isfinite(lse_ref)
    assert (lse.cpu()[finite].double() - lse_ref[finite]).abs().max() <= 1e-4
    return gen, inputs, ref_inputs, o, lse


@pytest.mark.parametrize("group,behind,head_dim,backward_knobs",
                         [(1, 0, BOUNDARY_DIM, {}), (3, 8, BOUNDARY_DIM, {}),
                          (3, 8, 80, dict(split_head_dim=True))])    # halves of 64, one partial
def test_selected_mask_boundaries(group, behind, head_dim, backward_knobs):
    """The selected kernels skip the visibility mask on tiles whose first query sees the
    whole block. boundary_selection starts a tile at every offset into a block, so a mask
    skipped one query too early (a query missing the block's last key) fails here, forward
    and backward, against the float64 oracle; queries behind keys shift the positions.
    backward_knobs: selected_attention_backward's tuning knobs."""
    gen, inputs, ref_inputs, o, lse = check_boundary_forward(group, behind, 16, 64, 31 + group,
                                                             d=head_dim)
    do = torch.randn(inputs[0].shape, generator=gen)
    block, scale = BOUNDARY_BLOCK, head_dim ** -0.5
    ref_args = (None, None, block, scale)
    poison_allocator(DEVICE)
    grads = selected_attention_backward(do.to(DEVICE), *inputs, o, lse, None, None, block, scale,
                                        **backward_knobs)
    refs = R.selected_attention_backward(do.double(), *ref_inputs, *ref_args)
    floors = attention_gradient_floors(R.selected_attention, R.selected_attention_backward,
                                       ref_inputs, ref_args, do.double(), scale)
    for which, grad, ref, floor in zip(("dq", "dk", "dv"), grads, refs, floors):
        assert rel_error(grad, ref, floor) <= REL_TOL[torch.float32], (which, rel_error(grad, ref, floor))


# Forward launcher tuning knobs (benchmarks/sweep_selected.py times them): each must give the
# oracle's result, across pieces of several tiles and a piece's last one.
FORWARD_KNOBS = [dict(normalize_partials=True), dict(always_mask=True), dict(piece_tiles=1),
                 dict(rows=16), dict(num_stages=2), dict(l2_hints=False),
                 dict(merge_rows=2), dict(merge_rows=64),    # 2: below GP = 4, taken as 4
                 dict(overlap_merge=True), dict(overlap_merge=True, chunk_tokens=24),
                 dict(overlap_merge=True, workspace_bytes=1)]    # chunks: 1 (no overlap), 4, 2 (64 tokens)


@pytest.mark.parametrize("knobs", FORWARD_KNOBS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_selected_forward_knobs(knobs):
    """boundary_selection (every block picked by a run of tokens, tiles starting at every
    offset into a block) at G = 3 with queries behind keys, through the forward with `knobs`,
    against the float64 oracle."""
    check_boundary_forward(3, 8, 4, 96, 47, **knobs)


@pytest.mark.parametrize("group", [1, 3])
def test_selected_forward_overlap_is_bitwise(group):
    """overlap_merge runs the same arithmetic in other launches: its output and lse equal the
    plain chunked forward's bit for bit (four chunks: both buffers, each used twice)."""
    _, inputs, _, o, lse = check_boundary_forward(group, 8, 4, 96, 53, chunk_tokens=24)
    poison_allocator(DEVICE)
    o2, lse2 = selected_attention_forward(*inputs, None, None, BOUNDARY_BLOCK,
                                          BOUNDARY_DIM ** -0.5, chunk_tokens=24,
                                          overlap_merge=True)
    assert torch.equal(o2, o) and torch.equal(lse2, lse)


@pytest.mark.cuda
@pytest.mark.parametrize("seqlen,group,dtype", LONG_CASES, ids=[long_case_id(c) for c in LONG_CASES])
def test_forward_kernels_long_sequences(seqlen, group, dtype):
    p = long_problem(seqlen, group, dtype)
    check_results(p, run_forward_ops(p, "cuda", torch.float32))


@pytest.mark.cuda
@pytest.mark.parametrize("seqlen,group,dtype", BACKWARD_LONG_CASES,
                         ids=[long_case_id(c) for c in BACKWARD_LONG_CASES])
def test_backward_kernels_long_sequences(seqlen, group, dtype):
    p = long_problem(seqlen, group, dtype)
    check_backward(p, run_backward_ops(p, "cuda", torch.float32))


@pytest.mark.cuda
def test_kernels_packed_long():
    p = packed_long_problem()
    check_results(p, run_forward_ops(p, "cuda", torch.float32))
    check_backward(p, run_backward_ops(p, "cuda", torch.float32))


def assert_same_bits(run, label):
    """run() once, then three more times with the allocator poisoned before each: every output
    equal to the first, bit for bit."""
    first = run()
    for _ in range(3):
        poison_allocator("cuda")
        for a, b in zip(first, run()):
            assert torch.equal(a, b), label


@pytest.mark.cuda
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_bitwise_deterministic(direction, packed):
    """Same inputs, same outputs and gradients, bit for bit: no atomics anywhere, and the block
    index, the partials and their reductions have a fixed order."""
    p = packed_long_problem() if packed else long_problem(8192, 4, torch.bfloat16, seed=11)
    t = p.tensors(device="cuda")
    cu_q, cu_k = p.cu_seqlens("cuda")
    indices = p.random_indices("cuda")
    for name, call in attention_calls(p, indices, cu_q, cu_k).items():
        inputs, args = call(t)
        op = getattr(fsa, name)
        if direction == "forward":
            assert_same_bits(lambda: op(*inputs, *args), name)
        else:
            o, lse = op(*inputs, *args)
            do = torch.randn_like(o)
            backward = getattr(fsa, name + "_backward")
            assert_same_bits(lambda: backward(do, *inputs, o, lse, *args), name)


def naive_block_index(indices, row_seq, seq_base, seq_blocks, chunk_tokens, num_keys):
    """(selection, order, group_end) of block_index, the slow way: per row a Python sort of
    its entries by (group, entry)."""
    batch, num_queries, num_kv_heads, n = indices.shape
    num_groups = num_keys // -(-num_queries // chunk_tokens)
    limit = seq_blocks[row_seq.long()][None, :, None, None]
    selection = torch.where((indices >= 0) & (indices < limit), indices, -1).sort(-1).values
    orders, ends = [], []
    for b in range(batch):
        for h in range(num_kv_heads):
            keyed = []
            for t in range(num_queries):
                row = selection[b, t, h].tolist()
                for s, block in enumerate(row):
                    if block >= 0 and (s == 0 or row[s - 1] != block):
                        group = (t // chunk_tokens) * num_groups + int(seq_base[row_seq[t]]) + block
                        keyed.append((group, t * n + s))
            keyed.sort()
            orders.append([e for _, e in keyed])
            counts = torch.bincount(torch.tensor([k for k, _ in keyed], dtype=torch.long),
                                    minlength=num_keys)
            ends.append(torch.cumsum(counts, 0))
    return selection.to(torch.int32), orders, torch.stack(ends).to(torch.int32)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("chunk_tokens", [1000, 64, 23])
def test_block_index(packed, chunk_tokens):
    """The selected branch's block index against a Python construction: rows sorted with -1
    first, repeats and out-of-sequence indices dropped, groups in (chunk, block) order, a
    group's entries in token order."""
    from fsa_ops.kernels import selected_attention as S
    from fsa_ops.kernels.common import sequence_tables
    gen = torch.Generator().manual_seed(3)
    num_queries, block, n = 150, 16, 6
    cu = (torch.tensor([0, 37, 37, 101, num_queries], dtype=torch.int32, device=DEVICE)
          if packed else None)                                    # with an empty sequence
    batch, heads = (1, 2) if packed else (2, 3)
    q = torch.empty(batch, num_queries, heads, 16, device=DEVICE)
    row_seq, _, cu_k = sequence_tables(q, cu, cu, num_queries)
    indices = torch.randint(-2, num_queries // block + 3, (batch, num_queries, heads, n),
                            generator=gen, dtype=torch.int32)
    indices[..., 2] = indices[..., 4]                             # repeats, in any column
    indices = indices.to(DEVICE)
    seq_base, seq_blocks, seq_end = S.sequence_blocks(cu_k, block)
    index = S.block_index(indices, row_seq, cu_k, block, num_queries, chunk_tokens)
    num_keys = index.group_end.shape[1]
    selection, orders, group_end = naive_block_index(
        indices.cpu(), row_seq.cpu(), seq_base.cpu(), seq_blocks.cpu(), chunk_tokens, num_keys)
    assert torch.equal(index.selection.cpu(), selection)
    assert torch.equal(index.group_end.cpu(), group_end)
    # Each group's sequence (the first that ends after it) and its block in that sequence.
    groups = torch.arange(num_keys // index.num_chunks)
    assert torch.equal(seq_end.cpu(), torch.cumsum(seq_blocks.cpu(), 0).int())
    group_seq = torch.searchsorted(seq_end.cpu().long(), groups, right=True)
    group_block = groups - seq_base.cpu().long()[group_seq.clamp(max=len(seq_base) - 1)]
    assert index.group_seq.cpu().tolist() == group_seq.tolist()
    assert index.group_block.cpu().tolist() == group_block.tolist()
    for row, expected in enumerate(orders):
        assert index.order[row, :len(expected)].cpu().tolist() == expected


def naive_work_list(group_end, num_chunks, num_entries, size):
    """(group, first, piece_end, chunk_start) of work_list, with torch ops: pieces counted per
    group, summed, and each piece's group found by searchsorted."""
    rows, num_keys = group_end.shape
    group_end = group_end.long()
    counts = torch.diff(group_end, dim=1, prepend=torch.zeros_like(group_end[:, :1]))
    pieces = (counts + size - 1) // size
    piece_end = torch.cumsum(pieces, 1)
    num_pieces = -(-num_entries // size) + num_keys
    w = torch.arange(num_pieces).expand(rows, num_pieces).contiguous()
    group = torch.searchsorted(piece_end, w, right=True)
    g = group.clamp(max=num_keys - 1)
    first = (group_end - counts).gather(1, g) + (w - (piece_end - pieces).gather(1, g)) * size
    num_groups = num_keys // num_chunks
    chunk_start = torch.cat([torch.zeros_like(piece_end[:, :1]), piece_end[:, num_groups - 1::num_groups]], 1)
    return [x.to(torch.int32) for x in (group, first, piece_end, chunk_start)]


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("chunk_tokens,size", [(1000, 70), (64, 24), (23, 10), (40, 1), (150, 2000)])
def test_work_list(packed, chunk_tokens, size):
    """work_list's kernels (a scan per row, a binary search per piece) against the same cut
    made with torch ops, every piece included, also those past the last (never run)."""
    from fsa_ops.kernels import selected_attention as S
    from fsa_ops.kernels.common import sequence_tables
    gen = torch.Generator().manual_seed(11)
    num_queries, block, n = 150, 16, 6
    cu = torch.tensor([0, 37, 37, 101, num_queries], dtype=torch.int32, device=DEVICE) if packed else None
    q = torch.empty(1 if packed else 2, num_queries, 3, 16, device=DEVICE)
    row_seq, _, cu_k = sequence_tables(q, cu, cu, num_queries)
    indices = torch.randint(-1, num_queries // block + 1, (q.shape[0], num_queries, 3, n),
                            generator=gen, dtype=torch.int32).to(DEVICE)
    index = S.block_index(indices, row_seq, cu_k, block, num_queries, chunk_tokens)
    work = S.work_list(index, size)
    expected = naive_work_list(index.group_end.cpu(), index.num_chunks, index.order.shape[1], size)
    for name, got, want in zip(("group", "first", "piece_end", "chunk_start"), work, expected):
        assert torch.equal(got.cpu(), want), name


@pytest.mark.parametrize("chunk_tokens,size", [(1000, 70), (64, 24), (23, 10), (40, 1)])
def test_piece_slots(chunk_tokens, size):
    """The deterministic backward's dK/dV partial slots against a Python walk over the pieces:
    a group's only piece in a chunk gets none (it adds into the sums itself); the pieces of a
    group cut in several get consecutive slots, counted from 0 in each chunk, in piece order,
    all below the shape-only bound. Groups hold 61-75 / 7-39 / 3-18 / 9-25 entries here: the
    sizes mix sole pieces and cut groups; size 1 cuts every group."""
    from fsa_ops.kernels import selected_attention as S
    from fsa_ops.kernels.common import sequence_tables
    gen = torch.Generator().manual_seed(5)
    num_queries, block, n = 150, 16, 6
    q = torch.empty(1, num_queries, 2, 16, device=DEVICE)
    row_seq, _, cu_k = sequence_tables(q, None, None, num_queries)
    indices = torch.randint(-1, num_queries // block, (1, num_queries, 2, n), generator=gen,
                            dtype=torch.int32).to(DEVICE)
    index = S.block_index(indices, row_seq, cu_k, block, num_queries, chunk_tokens)
    work = S.work_list(index, size)
    slots = S.piece_slots(index, work, size)
    group_end = index.group_end.cpu().tolist()
    piece_end, chunk_start = work.piece_end.cpu().tolist(), work.chunk_start.cpu().tolist()
    part_end, part_start = slots.part_end.cpu().tolist(), slots.chunk_start.cpu().tolist()
    num_groups = len(group_end[0]) // index.num_chunks
    cut = sole = 0
    for row in range(len(group_end)):
        for chunk in range(index.num_chunks):
            expected = 0                           # the chunk's next free slot
            for key in range(chunk * num_groups, (chunk + 1) * num_groups):
                entries = group_end[row][key] - (group_end[row][key - 1] if key else 0)
                pieces = -(-entries // size)
                assert piece_end[row][key] - (piece_end[row][key - 1] if key else 0) == pieces
                sole += pieces == 1
                for i in range(pieces if pieces > 1 else 0):
                    # _piece_slot's formula for the group's i-th piece
                    absolute = piece_end[row][key] - pieces + i
                    slot = (part_end[row][key] - piece_end[row][key] + absolute
                            - part_start[row][chunk])
                    assert chunk_start[row][chunk] <= absolute < chunk_start[row][chunk + 1]
                    assert slot == expected < slots.per_chunk, (row, key, i, slot, expected)
                    expected += 1
                    cut += 1
    assert cut > 0 and (sole > 0 or size == 1)


@pytest.mark.parametrize("seqlen,heads,head_dim,dtype", [
    (65536, 4, 128, torch.bfloat16), (65536, 16, 128, torch.bfloat16),
    (65536, 64, 128, torch.bfloat16), (100_000, 64, 128, torch.bfloat16),
    (1000, 2, 16, torch.float32), (1, 1, 16, torch.float16)])
def test_token_chunk_sizes(seqlen, heads, head_dim, dtype):
    """The selected branch's default token chunks: at most MAX_CHUNKS of them, each holding
    2/3 to 3/2 of MIN_WORKSPACE_BYTES of partials, unless one chunk holds the whole call
    (fewer bytes) or there are MAX_CHUNKS (more); an explicit workspace is respected (down to
    64 tokens). G = 1 at 64K (1.03 GiB of partials) takes one chunk, not a second 3% full."""
    from fsa_ops.kernels import selected_attention as S
    q = torch.empty(1, seqlen, heads, head_dim, dtype=dtype, device="meta")
    per_token = S.partial_bytes(q, 16)
    tokens = S.chunk_tokens_for(q, 16)
    chunks = -(-seqlen // tokens)
    assert 1 <= tokens <= seqlen and (tokens == seqlen or tokens % 64 == 0)
    assert chunks <= S.MAX_CHUNKS
    assert chunks == 1 or tokens * per_token >= 2 * S.MIN_WORKSPACE_BYTES // 3
    assert chunks == S.MAX_CHUNKS or tokens * per_token <= 3 * S.MIN_WORKSPACE_BYTES // 2 + 64 * per_token
    if (seqlen, heads, dtype) == (65536, 4, torch.bfloat16):
        assert chunks == 1
    # The backward's default (the layer's memory peak): one chunk where the forward has one,
    # else chunks of about BACKWARD_WORKSPACE_BYTES, at most BACKWARD_MAX_CHUNKS of them.
    backward = S.backward_chunk_tokens(q, 16)
    backward_chunks = -(-seqlen // backward)
    assert backward <= tokens and backward_chunks <= S.BACKWARD_MAX_CHUNKS
    assert (backward_chunks == 1) == (chunks == 1)
    assert chunks == 1 or backward * per_token >= 2 * S.BACKWARD_WORKSPACE_BYTES // 3
    if (seqlen, heads, dtype) == (65536, 16, torch.bfloat16):       # G = 4 on 4 kv heads
        assert (chunks, backward_chunks) == (4, 8)
    assert S.backward_chunk_tokens(q, 16, workspace_bytes=256 << 20) == S.chunk_tokens_for(
        q, 16, workspace_bytes=256 << 20)
    small = S.chunk_tokens_for(q, 16, workspace_bytes=256 << 20)
    assert small == seqlen or small == max(64, (256 << 20) // per_token // 64 * 64)
    # The forward takes the backward's chunks, or where the call is cut anyway, chunks whose q
    # rows of one kv head fit Q_ROWS_BYTES (G = 16 at 64K: 2K tokens); an explicit workspace
    # holds both of the overlapped forward's buffers.
    k = torch.empty(1, seqlen, min(4, heads), head_dim, dtype=dtype, device="meta")
    group = heads // k.shape[2]
    forward = S.forward_chunk_tokens(q, k, 16)
    fit = max(64, S.Q_ROWS_BYTES // (group * head_dim * q.element_size()) // 64 * 64)
    assert forward == (backward if backward >= seqlen else min(backward, fit))
    if (seqlen, heads, dtype) == (65536, 64, torch.bfloat16):
        assert (backward, forward) == (8192, 2048)
    assert S.forward_chunk_tokens(q, k, 16, 256 << 20) == small
    assert S.forward_chunk_tokens(q, k, 16, 256 << 20, overlap=True) == S.chunk_tokens_for(
        q, 16, workspace_bytes=128 << 20)
    # The merge overlaps the partials where measured faster: G = 3, 4 over several chunks
    # (here: 64K tokens at G = 4, 16 heads on 4 kv heads).
    assert S.forward_overlaps_merge(q, k, 16) == (heads == 16)
