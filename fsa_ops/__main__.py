"""`python -m fsa_ops`: run a small NSA layer forward+backward, eagerly and compiled, on
whatever device there is, check both against the float64 oracle and time them."""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time

import torch

import fsa_ops
from fsa_ops.testing import REL_TOL, OracleAttention, rel_error


def backend_name(device: torch.device) -> str:
    """Which kernel torch.ops.fsa runs on `device`."""
    from fsa_ops import kernels_available  # noqa: WPS433
    return "Triton kernels" if kernels_available(device) else "PyTorch reference kernels"


def run_layer(forward, layer, x, cu_seqlens, grad_out):
    """One forward+backward of `forward` (layer itself or its compiled form):
    (y, selected block indices, {name: grad} for x and the parameters)."""
    x = x.detach().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    y, indices = forward(x, cu_seqlens, return_indices=True)
    y.backward(grad_out)
    grads = {"x": x.grad}
    grads.update({name: p.grad for name, p in layer.named_parameters()})
    return y.detach(), indices, grads


def check_against_oracle(oracle, indices, x, cu_seqlens, y, grads, grad_out):
    """Relative errors of y and every gradient against the float64 oracle run on the same
    block selection, plus that selection's score gap under the oracle's own scores."""
    oracle.attention_fn = OracleAttention(indices)
    y_ref, _, g_ref = run_layer(oracle, oracle, x.double(), cu_seqlens, grad_out.double())
    errors = {"out": rel_error(y, y_ref)}
    errors.update({f"d{name}": rel_error(g, g_ref[name]) for name, g in grads.items()})
    return errors, oracle.attention_fn.gap


def timed(fn, device, repeats):
    fn()  # warm-up (compiles on the first call)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1e3


def main(argv=None) -> int:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(prog="python -m fsa_ops", description=__doc__)
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--dtype", default="bfloat16" if cuda else "float32",
                        choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--seqlen", type=int, default=4096 if cuda else 768)
    parser.add_argument("--packed", action="store_true",
                        help="pack three sequences of uneven length instead of a batch of two")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    print(f"fsa_ops {fsa_ops.__version__} | torch {torch.__version__} | "
          f"triton {_triton_version()} | python {platform.python_version()}")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device {device} ({name}) | backend: {backend_name(device)} | dtype {args.dtype}")

    torch.manual_seed(0)
    hidden, heads, kv_heads, head_dim = (1024, 16, 4, 64) if device.type == "cuda" else (128, 4, 2, 32)
    config = fsa_ops.NSAConfig() if device.type == "cuda" else fsa_ops.NSAConfig(num_selected_blocks=4, window_size=128)
    layer = fsa_ops.NativeSparseAttention(hidden, heads, kv_heads, head_dim, config=config,
                                          device=device, dtype=dtype)
    oracle = copy.deepcopy(layer).double()
    compiled = torch.compile(layer, fullgraph=True)

    if args.packed:
        lengths = [args.seqlen // 2, args.seqlen // 3, args.seqlen - args.seqlen // 2 - args.seqlen // 3]
        cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32, device=device)
        shape = (1, args.seqlen, hidden)
    else:
        cu, shape = None, (2, args.seqlen, hidden)
    print(f"layer: hidden {hidden}, heads {heads}/{kv_heads}, head_dim {head_dim}, {config}; "
          f"input {list(shape)}" + (f", cu_seqlens {cu.tolist()}" if cu is not None else ""))
    x = torch.randn(shape, device=device, dtype=dtype)
    grad_out = torch.randn(shape, device=device, dtype=dtype)

    worst = 0.0
    for label, model in (("eager", layer), ("compiled", compiled)):
        y, indices, grads = run_layer(model, layer, x, cu, grad_out)
        errors, gap = check_against_oracle(oracle, indices, x, cu, y, grads, grad_out)
        ms = timed(lambda: run_layer(model, layer, x, cu, grad_out), device, args.repeats)
        top = max(errors, key=errors.get)
        worst = max(worst, errors[top], gap)
        print(f"{label:>9}: fwd+bwd {ms:9.2f} ms | out err {errors['out']:.2e} | "
              f"worst grad err {errors[top]:.2e} ({top}) | selection score gap {gap:.1e}")

    ok = worst <= REL_TOL[dtype]
    print(f"{'PASS' if ok else 'FAIL'}: max error {worst:.3e} vs float64 oracle "
          f"(bound {REL_TOL[dtype]:.0e} for {args.dtype})")
    return 0 if ok else 1


def _triton_version() -> str:
    try:
        import triton
        return triton.__version__
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
