"""torch.compile integration (issue 6): fusion of the gate, dynamic sequence lengths, export
and AOTInductor, no host syncs, CUDA graphs, and a training run that learns.

Kernel lists are snapshots of the code Inductor generates (`fsa_ops.testing.compiled_calls`);
regenerate them with `EXPECTTEST_ACCEPT=1` after a deliberate change and read the diff. The CPU
list has a snapshot for torch 2.13 (CI) and 2.11 (the GPU image), the CUDA list for 2.11;
other versions check only what holds everywhere (the gate fused, the attention ops opaque).
"""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from expecttest import assert_expected_inline
from torch._dynamo.utils import counters
from torch._inductor.utils import run_and_get_code

import fsa_ops
import lowering
from fsa_ops.testing import REL_TOL, compiled_calls, rel_error

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import train_recall  # noqa: E402

CONFIG = fsa_ops.NSAConfig(compress_block_size=32, compress_stride=16, select_block_size=32,
                           num_selected_blocks=4, num_init_blocks=1, num_local_blocks=1,
                           window_size=48)
CUDA = pytest.mark.cuda
TRITON = pytest.mark.triton
TORCH = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])


def make_layer(device="cpu", dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return fsa_ops.NativeSparseAttention(64, 4, 2, 16, config=CONFIG, device=device, dtype=dtype)


def forward_backward(fn, x, grad_out):
    x = x.detach().requires_grad_(True)
    y = fn(x)
    y.backward(grad_out)
    return y.detach(), x.grad


def compiled_kernel_lists(layer, x):
    """(forward calls, backward calls) of the compiled layer's forward+backward."""
    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True)
    grad_out = torch.randn_like(x)
    _, codes = run_and_get_code(forward_backward, compiled, x, grad_out)
    assert len(codes) == 2, f"expected one forward and one backward module, got {len(codes)}"
    return [compiled_calls(code) for code in codes]


def assert_gate_fused(forward, backward):
    """The gate is never a kernel (or op call) of its own: every kernel that computes part of
    gated_combine or its backward also computes something else (the gate's sigmoid, the
    upstream gradient's view, ...), and neither gated_combine op is called."""
    assert not [c for c in forward + backward if c.startswith("fsa.gated_combine")]
    assert [c for c in forward if "gated_combine" in c and "sigmoid" in c]
    for c in forward + backward:
        if "gated_combine" in c:     # e.g. cpp_fused_gated_combine_sigmoid_unbind_view_3
            fused = re.sub(r"^(cpp|triton_\w{3})_fused_|_\d+$", "", c)
            others = re.sub(r"gated_combine(_backward)?", "", fused).strip("_")
            assert others, c


def test_gated_combine_decomposed_for_inductor_only():
    from torch._inductor.decomposition import decompositions
    fsa = torch.ops.fsa
    assert lowering.DECOMPOSED == [fsa.gated_combine.default, fsa.gated_combine_backward.default]
    for op in lowering.DECOMPOSED:
        assert op in decompositions
    # Eager mode still dispatches to the op (the Triton kernel where one is registered).
    o = [torch.randn(1, 5, 2, 16) for _ in range(3)]
    g = [torch.rand(1, 5, 2) for _ in range(3)]
    assert rel_error(fsa.gated_combine(*o, *g), sum(gi[..., None] * oi for gi, oi in zip(g, o))) < 1e-6


def assert_fsa_calls(forward, backward):
    """The attention ops stay opaque calls, once each and in order; nothing else of ours is."""
    fsa = lambda calls: [c for c in calls if c.startswith("fsa.")]  # noqa: E731
    assert fsa(forward) == ["fsa.compressed_attention", "fsa.select_blocks",
                            "fsa.selected_attention", "fsa.window_attention"]
    assert sorted(fsa(backward)) == ["fsa.compressed_attention_backward",
                                     "fsa.selected_attention_backward",
                                     "fsa.window_attention_backward"]
    # The compression's gradient is a gather (module.GatherBlocks), never a scatter: torch
    # 2.11's Inductor misordered one here and dropped part of k's gradient.
    assert not [c for c in backward if "index_put" in c or "scatter" in c]


def test_compiled_layer_kernel_list_cpu():
    forward, backward = compiled_kernel_lists(make_layer(), torch.randn(2, 203, 64))
    assert_gate_fused(forward, backward)
    assert_fsa_calls(forward, backward)
    # Inductor's fusion and kernel names change between torch versions: one snapshot each for
    # CI's torch and the GPU image's (the checks above hold for every version).
    if TORCH in ((2, 13), (2, 11)):       # the forward is the same on both
        assert_expected_inline("\n".join(forward), """\
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.addmm
cpp_fused__unsafe_view_add_arange_clone_expand_index_mul_permute_unsqueeze_view_0
extern_kernels.bmm
cpp_fused__to_copy__unsafe_view_add_arange_bitwise_not_cat_clone_cos_div_expand_index_masked_fill_mul_neg_permute_pow_sin_slice_sub_transpose_unsqueeze_view_1
extern_kernels.bmm
cpp_fused__to_copy__unsafe_view_add_arange_bitwise_not_cat_clone_cos_div_masked_fill_mul_neg_pow_sin_slice_transpose_unsqueeze_view_2
fsa.compressed_attention
fsa.select_blocks
fsa.selected_attention
fsa.window_attention
cpp_fused_gated_combine_sigmoid_unbind_view_3
extern_kernels.mm""")
    if TORCH == (2, 13):
        assert_expected_inline("\n".join(backward), """\
extern_kernels.mm
extern_kernels.mm
cpp_fused_compressed_attention_backward_gated_combine_backward_selected_attention_backward_view_window_attention_backward_0
fsa.window_attention_backward
fsa.compressed_attention_backward
fsa.selected_attention_backward
cpp_fused_bitwise_not_clone_masked_fill_transpose_1
extern_kernels.bmm
extern_kernels.bmm
cpp_fused__to_copy_add_arange_bitwise_not_cat_clone_cos_div_masked_fill_mul_neg_new_zeros_permute_pow_sin_slice_slice_backward_sub_sum_transpose_unsqueeze_view_2
extern_kernels.bmm
extern_kernels.bmm
cpp_fused__to_copy_add_arange_bitwise_and_cat_cos_div_floor_divide_ge_index_lt_mul_neg_permute_pow_scalar_tensor_sigmoid_sigmoid_backward_sin_slice_slice_backward_sub_sum_unsqueeze_view_where_3
extern_kernels.mm
extern_kernels.mm
cpp_fused_add_arange_bitwise_and_floor_divide_ge_index_lt_mul_scalar_tensor_sigmoid_backward_sub_sum_unsqueeze_view_where_4
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
cpp_fused__to_copy_add_arange_cat_cos_div_mul_neg_pow_sin_slice_slice_backward_unsqueeze_5
extern_kernels.mm
extern_kernels.mm
cpp_fused_add_view_6""")
    elif TORCH == (2, 11):
        assert_expected_inline("\n".join(backward), """\
extern_kernels.mm
extern_kernels.mm
cpp_fused_compressed_attention_backward_gated_combine_backward_selected_attention_backward_view_window_attention_backward_0
fsa.window_attention_backward
fsa.compressed_attention_backward
fsa.selected_attention_backward
cpp_fused__to_copy_add_arange_bitwise_not_cat_clone_cos_div_masked_fill_mul_neg_pow_sin_slice_slice_backward_sub_transpose_unsqueeze_1
extern_kernels.bmm
cpp_fused__to_copy_add_arange_bitwise_and_bitwise_not_cat_clone_cos_div_floor_divide_ge_index_lt_masked_fill_mul_neg_permute_pow_scalar_tensor_sin_slice_slice_backward_sub_sum_transpose_unsqueeze_view_where_2
extern_kernels.bmm
extern_kernels.bmm
cpp_fused_add_arange_bitwise_and_cat_floor_divide_ge_index_lt_mul_new_zeros_permute_scalar_tensor_sub_sum_unsqueeze_view_where_3
extern_kernels.bmm
cpp_fused_permute_sigmoid_sigmoid_backward_sum_view_4
extern_kernels.mm
extern_kernels.mm
cpp_fused_sigmoid_backward_sum_view_5
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
cpp_fused_add_view_6""")


@CUDA
def test_compiled_layer_kernel_list_cuda():
    layer = make_layer("cuda", torch.bfloat16)
    # No shape padding: Inductor's pad_mm pass times padded against plain matmuls of the
    # projections (203 rows) while compiling, so which of them it pads (and the pointwise
    # kernels around them) changed from run to run on the H200 (session 22: three runs, three
    # lists, differing only there).
    with torch._inductor.config.patch(shape_padding=False):
        forward, backward = compiled_kernel_lists(layer, torch.randn(2, 203, 64, device="cuda",
                                                                     dtype=torch.bfloat16))
    assert_gate_fused(forward, backward)
    assert_fsa_calls(forward, backward)
    if TORCH == (2, 11):      # the GPU image's torch
        assert_expected_inline("\n".join(forward), """\
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.addmm
triton_poi_fused__unsafe_view_add_arange_clone_index_mul_permute_unsqueeze_view_0
triton_poi_fused_clone_expand_view_1
extern_kernels.bmm
triton_poi_fused__to_copy_add_arange_bitwise_not_cat_clone_cos_div_masked_fill_mul_neg_pow_sin_slice_sub_transpose_unsqueeze_view_2
triton_poi_fused__unsafe_view_add_arange_clone_index_mul_permute_unsqueeze_view_0
triton_poi_fused_clone_expand_view_1
extern_kernels.bmm
triton_poi_fused_bitwise_not_clone_masked_fill_transpose_view_3
triton_poi_fused__to_copy__unsafe_view_add_arange_cat_cos_div_mul_neg_pow_sin_slice_unsqueeze_view_4
triton_poi_fused__to_copy__unsafe_view_add_arange_cat_cos_div_mul_neg_pow_selected_attention_sin_slice_unsqueeze_view_window_attention_5
fsa.compressed_attention
fsa.select_blocks
fsa.selected_attention
fsa.window_attention
triton_poi_fused_gated_combine_sigmoid_unbind_view_6
triton_poi_fused_gated_combine_sigmoid_unbind_view_7
triton_poi_fused_gated_combine_sigmoid_unbind_view_8
triton_poi_fused_gated_combine_sigmoid_unbind_view_9
extern_kernels.mm""")
        assert_expected_inline("\n".join(backward), """\
extern_kernels.mm
extern_kernels.mm
triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_view_window_attention_backward_0
triton_poi_fused_gated_combine_backward_selected_attention_backward_view_window_attention_backward_1
fsa.window_attention_backward
fsa.compressed_attention_backward
fsa.selected_attention_backward
triton_poi_fused__to_copy_add_arange_bitwise_not_cat_clone_cos_div_masked_fill_mul_neg_pow_sin_slice_slice_backward_sub_transpose_unsqueeze_2
extern_kernels.bmm
triton_poi_fused__to_copy_add_arange_bitwise_and_cat_cos_div_floor_divide_ge_index_lt_mul_neg_new_zeros_permute_pow_scalar_tensor_sin_slice_slice_backward_sub_sum_unsqueeze_view_where_3
triton_poi_fused__to_copy_add_arange_cat_cos_div_mul_neg_pow_sin_slice_slice_backward_unsqueeze_view_4
triton_poi_fused_bitwise_not_clone_masked_fill_transpose_5
extern_kernels.bmm
extern_kernels.bmm
triton_poi_fused_sum_view_6
triton_per_fused_permute_sum_view_7
triton_poi_fused_add_arange_bitwise_and_cat_floor_divide_ge_index_lt_mul_new_zeros_permute_scalar_tensor_sub_sum_unsqueeze_view_where_8
extern_kernels.bmm
triton_poi_fused_sum_view_6
triton_per_fused_permute_sum_view_7
triton_poi_fused_gated_combine_backward_sigmoid_sigmoid_backward_stack_view_9
triton_poi_fused_sigmoid_backward_view_10
extern_kernels.mm
extern_kernels.mm
triton_red_fused_sum_11
triton_per_fused_sum_12
triton_poi_fused_add_view_13
extern_kernels.mm
extern_kernels.mm
triton_poi_fused_add_view_13
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
extern_kernels.mm
triton_poi_fused_add_view_14""")


def check_dynamic_lengths(device, lengths, packed: bool):
    """Compile once with dynamic shapes, then run every length: outputs and input gradients
    match eager; returns the number of graphs compiled (1 means no recompile)."""
    layer = make_layer(device)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(layer, fullgraph=True, dynamic=True)
    for i, seqlen in enumerate(lengths):
        x = torch.randn(1 if packed else 2, seqlen, 64, device=device)
        cu = None
        if packed:       # three sequences, one of them short
            cu = torch.tensor([0, seqlen // 3, seqlen // 3 + 7, seqlen], dtype=torch.int32,
                              device=device)
        grad_out = torch.randn_like(x)
        y, dx = forward_backward(lambda t: compiled(t, cu), x, grad_out)
        y_ref, dx_ref = forward_backward(lambda t: layer(t, cu), x, grad_out)
        assert rel_error(y, y_ref) <= REL_TOL[torch.float32], seqlen
        assert rel_error(dx, dx_ref) <= REL_TOL[torch.float32], seqlen
        if i == 0:       # from here on a recompile raises instead of compiling
            torch.compiler.set_stance("fail_on_recompile")
    torch.compiler.set_stance("default")
    return counters["stats"]["unique_graphs"]


# 203 first; then lengths that are and are not multiples of the blocks (16, 32, 48).
LENGTHS = [203, 256, 301, 333, 480, 517]


@pytest.mark.parametrize("packed", [False, True], ids=["batched", "packed"])
def test_dynamic_lengths_compile_once(packed):
    assert check_dynamic_lengths("cpu", LENGTHS, packed) == 1


@CUDA
@pytest.mark.parametrize("packed", [False, True], ids=["batched", "packed"])
def test_dynamic_lengths_compile_once_cuda(packed):
    assert check_dynamic_lengths("cuda", LENGTHS, packed) == 1


def check_export(device):
    layer = make_layer(device)
    length = torch.export.Dim("seqlen", min=64, max=8192)
    exported = torch.export.export(layer, (torch.randn(2, 203, 64, device=device),),
                                   dynamic_shapes={"x": {1: length}})
    targets = [str(n.target) for n in exported.graph.nodes if "fsa." in str(n.target)]
    assert targets == ["fsa.compressed_attention.default", "fsa.select_blocks.default",
                       "fsa.selected_attention.default", "fsa.window_attention.default",
                       "fsa.gated_combine.default"]
    run = exported.module()
    with torch.no_grad():
        for seqlen in (203, 320, 777):
            x = torch.randn(2, seqlen, 64, device=device)
            assert rel_error(run(x), layer(x)) <= REL_TOL[torch.float32], seqlen


def test_export_cpu():
    check_export("cpu")


@CUDA
def test_export_cuda():
    check_export("cuda")


def aoti_probe(device, what):
    """scripts/aoti_probe.py in a subprocess (AOTInductor crashes take the process down):
    (finished, output, how it ended: exit status and the last stage it reached)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "aoti_probe.py"
    run = subprocess.run([sys.executable, str(script), device, what], capture_output=True,
                         text=True, timeout=600)
    stages = [line for line in run.stdout.splitlines() if line.startswith("stage ")]
    ended = f"exit status {run.returncode} after '{stages[-1] if stages else 'start'}'"
    return (run.returncode == 0 and "stage done" in run.stdout,
            run.stdout + run.stderr[-2000:], ended)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_aoti(device):
    """AOTInductor: the exported layer compiled, loaded and run at three lengths. On the GPU
    image's torch 2.11 loading *any* AOTInductor package crashed the process (a Linear+GELU
    with no fsa op too, on CPU and CUDA): that is checked first, and only then is the NSA
    layer's result required."""
    plain_ok, _, plain_ended = aoti_probe(device, "plain")
    if not plain_ok:
        pytest.skip(f"AOTInductor fails without any fsa op on torch {torch.__version__} "
                    f"({plain_ended})")
    ok, log, _ = aoti_probe(device, "fsa")
    assert ok, log
    assert float(log.split("max rel error")[1].split()[0]) <= REL_TOL[torch.float32], log


@CUDA
def test_compiled_training_step_has_no_host_sync():
    layer = make_layer("cuda", torch.bfloat16)
    compiled = torch.compile(layer, fullgraph=True)
    x = torch.randn(2, 1000, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    compiled(x).float().square().mean().backward()            # compile outside the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            compiled(x).float().square().mean().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


@CUDA
def test_cuda_graphs_training_step_matches_eager():
    """torch.compile(mode="reduce-overhead") captures forward+backward in CUDA graphs; the
    replayed step (fresh inputs copied into the static buffers) matches eager."""
    torch._dynamo.reset()
    eager = make_layer("cuda", torch.float32)
    graphed = copy.deepcopy(eager)
    step = torch.compile(graphed, mode="reduce-overhead", fullgraph=True)
    for i in range(4):                         # warm-up, record, then replays
        torch.compiler.cudagraph_mark_step_begin()
        x = torch.randn(2, 512, 64, device="cuda")
        grad_out = torch.randn_like(x)
        for m in (eager, graphed):
            m.zero_grad(set_to_none=True)
        y, dx = forward_backward(step, x, grad_out)
        y_ref, dx_ref = forward_backward(eager, x, grad_out)
        assert rel_error(y, y_ref) <= REL_TOL[torch.float32], i
        assert rel_error(dx, dx_ref) <= REL_TOL[torch.float32], i
        for (name, p), p_ref in zip(graphed.named_parameters(), eager.parameters()):
            assert rel_error(p.grad, p_ref.grad) <= REL_TOL[torch.float32], (i, name)


def test_recall_lm_learns_on_cpu():
    """A compiled (fullgraph) NSA decoder learns long-range key -> value recall: the pairs are
    beyond the window and the local blocks, so only the compressed and selected branches reach
    them. Chance is ln(8) = 2.08 nats; the run reaches ~0.02 by step 250."""
    result = train_recall.train(**train_recall.PRESETS["cpu"])
    assert result["eval_loss"] < 0.3 and result["accuracy"] > 0.9, (
        result["eval_loss"], result["accuracy"], result["losses"][::25])
