"""NativeSparseAttention: eager and torch.compile(fullgraph=True) against the float64 oracle."""

import copy

import pytest
import torch
from hypothesis import given, strategies as st
from torch._dynamo.utils import counters

import fsa_ops
from fsa_ops.__main__ import main as main_job
from fsa_ops.kernels.common import INTERPRETING
from fsa_ops.module import GatherBlocks, compression_rows
from fsa_ops.testing import REL_TOL, OracleAttention, rel_error

CONFIG = fsa_ops.NSAConfig(compress_block_size=32, compress_stride=16, select_block_size=32,
                           num_selected_blocks=4, num_init_blocks=1, num_local_blocks=1,
                           window_size=48)


def forward_backward(fn, layer, x, cu_seqlens, grad_out):
    x = x.detach().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    y, indices = fn(x, cu_seqlens, return_indices=True)
    y.backward(grad_out)
    grads = {"x": x.grad, **{n: p.grad for n, p in layer.named_parameters()}}
    return y.detach(), indices, grads


def check_layer(layer, x, cu_seqlens):
    """Compile, run eager and compiled, compare both with the oracle; return graph breaks."""
    torch._dynamo.reset()
    counters.clear()
    grad_out = torch.randn_like(x)
    compiled = torch.compile(layer, fullgraph=True)
    oracle = copy.deepcopy(layer).double()
    results = {name: forward_backward(fn, layer, x, cu_seqlens, grad_out)
               for name, fn in (("eager", layer), ("compiled", compiled))}
    for name, (y, indices, grads) in results.items():
        oracle.attention_fn = OracleAttention(indices)
        y_ref, _, g_ref = forward_backward(oracle, oracle, x.double(), cu_seqlens, grad_out.double())
        assert oracle.attention_fn.gap <= REL_TOL[x.dtype], name
        assert rel_error(y, y_ref) <= REL_TOL[x.dtype], name
        for param, g in grads.items():
            assert rel_error(g, g_ref[param]) <= REL_TOL[x.dtype], (name, param)
    return sum(counters["graph_break"].values())


@pytest.mark.parametrize("compression", ["linear", "mean"])
def test_compiled_layer_matches_eager_and_oracle(compression):
    torch.manual_seed(0)
    layer = fsa_ops.NativeSparseAttention(64, 6, 2, 16, compression=compression, config=CONFIG)
    x = torch.randn(2, 203, 64)                      # 203: not a multiple of any block
    assert check_layer(layer, x, None) == 0


def test_compiled_layer_on_packed_sequences():
    torch.manual_seed(1)
    layer = fsa_ops.NativeSparseAttention(64, 4, 4, 16, config=CONFIG)
    # Sequences of 70, 0, 1, 33 and 97 tokens.
    cu = torch.tensor([0, 70, 70, 71, 104, 201], dtype=torch.int32)
    x = torch.randn(1, 201, 64)
    assert check_layer(layer, x, cu) == 0


@given(lengths=st.lists(st.integers(0, 90), min_size=1, max_size=4), batch=st.integers(1, 2),
       stride=st.sampled_from([8, 16]), blocks=st.integers(1, 4), packed=st.booleans())
def test_gathered_blocks_gradient_is_autograds_scatter(lengths, batch, stride, blocks, packed):
    """GatherBlocks' gradient (a gather through `cover`) equals autograd's accumulating scatter
    of x[:, token_index], float64, on every row the layer keeps (invalid rows get no gradient:
    the layer zeroes their outputs)."""
    block = stride * blocks
    seqlen = sum(lengths) if packed else lengths[0]
    cu = torch.tensor([0, *lengths], dtype=torch.int32).cumsum(0).int() if packed else None
    rows = compression_rows(seqlen, block, stride, cu, "cpu")
    x = torch.randn(1 if packed else batch, seqlen, 2, 8, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(x.shape[0], rows.token_index.shape[0], block, 2, 8, dtype=torch.float64)
    grad = grad * rows.valid[None, :, None, None, None]
    blocks_out = GatherBlocks.apply(x, rows.token_index, rows.cover)
    assert torch.equal(blocks_out, x[:, rows.token_index])
    (expected,) = torch.autograd.grad(x[:, rows.token_index], x, grad)
    (got,) = torch.autograd.grad(blocks_out, x, grad)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_packed_layer_equals_separate_sequences():
    torch.manual_seed(2)
    layer = fsa_ops.NativeSparseAttention(64, 4, 2, 16, config=CONFIG)
    lengths = [45, 0, 1, 80]
    x = torch.randn(1, sum(lengths), 64)
    cu = torch.tensor([0, 45, 45, 46, 126], dtype=torch.int32)
    packed = layer(x, cu)
    start = 0
    for n in lengths:
        alone = layer(x[:, start:start + n]) if n else x[:, :0]
        assert rel_error(packed[:, start:start + n], alone) <= REL_TOL[torch.float32]
        start += n


def test_layer_rejects_heads_that_do_not_group():
    with pytest.raises(ValueError, match="num_heads \\(6\\) must be a positive multiple of num_kv_heads \\(4\\)"):
        fsa_ops.NativeSparseAttention(64, 6, 4, 16)


def test_layer_rejects_input_of_the_wrong_shape():
    layer = fsa_ops.NativeSparseAttention(64, 4, 2, 16)
    with pytest.raises(ValueError, match=r"^NativeSparseAttention: x must have shape \[B, T, 64\], got \(2, 10, 32\)"):
        layer(torch.randn(2, 10, 32))
    with pytest.raises(ValueError, match=r"^NativeSparseAttention: x must have shape"):
        layer(torch.randn(10, 64))
    packed = torch.tensor([0, 4, 10], dtype=torch.int32)
    with pytest.raises(ValueError, match=r"^fsa\.compressed_attention: q must have batch 1 when cu_seqlens"):
        layer(torch.randn(2, 10, 64), packed)
    with pytest.raises(ValueError, match=r"^fsa\.compressed_attention: cu_seqlens_q must end at the token count 11"):
        layer(torch.randn(1, 11, 64), packed)


def test_main_job_passes(capsys):
    assert main_job(["--seqlen", "300", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    # The job runs on whatever device there is: the Triton kernels on a GPU or under the
    # interpreter, the reference otherwise.
    triton_runs = torch.cuda.is_available() or INTERPRETING
    assert f"backend: {'Triton kernels' if triton_runs else 'PyTorch reference kernels'}" in out
    assert out.strip().splitlines()[-1].startswith("PASS")
