"""Session 27: where the eager NSA layer step's host time goes at 8K (cProfile), and the host
cost of single pieces: a Triton launch, a torch op, a custom-op call, the validation."""
import cProfile, pstats, sys, time, io
import torch, triton
sys.path.insert(0, ".")
import fsa_ops
from fsa_ops.kernels.common import row_dot
from benchmarks.run import Bench
from benchmarks.host_overhead import layer_step

dev = torch.device("cuda")
def host_us(fn, n=2000):
    for _ in range(50): fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n): fn()
    dt = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize()
    return dt
a = torch.randn(64, 128, device=dev, dtype=torch.bfloat16); b = torch.randn_like(a)
print(f"torch add (tiny): {host_us(lambda: a + b):.1f} us/call")
print(f"torch.searchsorted (tiny): {host_us(lambda: torch.searchsorted(a[0].float().sort().values, b[0].float())):.1f} us/call")
print(f"row_dot launcher (tiny, 1 triton launch): {host_us(lambda: row_dot(a, b)):.1f} us/call")
g = [torch.rand(1, 16, 4, device=dev, dtype=torch.bfloat16) for _ in range(3)]
o3 = [torch.randn(1, 16, 4, 128, device=dev, dtype=torch.bfloat16) for _ in range(3)]
print(f"fsa.gated_combine op (tiny): {host_us(lambda: torch.ops.fsa.gated_combine(*o3, *g)):.1f} us/call")
from fsa_ops.kernels import gated_combine as gc_mod
print([n for n in dir(gc_mod) if not n.startswith('__')])
q = torch.randn(1, 64, 4, 128, device=dev, dtype=torch.bfloat16); k = torch.randn(1, 64, 1, 128, device=dev, dtype=torch.bfloat16)
print(f"fsa.window_attention op (64 tokens): {host_us(lambda: torch.ops.fsa.window_attention(q, k, k, None, None, 512, 0.1, False)):.1f} us/call")
idx = torch.zeros(1, 64, 1, 16, dtype=torch.int32, device=dev) - 1; idx[..., 0] = 0
print(f"fsa.selected_attention op (64 tokens): {host_us(lambda: torch.ops.fsa.selected_attention(q, k, k, idx, None, None, 64, 0.1, False), 500):.1f} us/call")

bench = Bench(dev, torch.bfloat16)
for mode in ("eager", "compiled"):
    step = layer_step(bench, 8192, 4, mode)
    for _ in range(3): step()
    torch.cuda.synchronize()
    pr = cProfile.Profile(); pr.enable()
    t = time.perf_counter()
    for _ in range(20): step()
    torch.cuda.synchronize()
    pr.disable()
    print(f"\n==== {mode}: {(time.perf_counter() - t) / 20 * 1e3:.2f} ms/step under cProfile")
    s = io.StringIO(); st = pstats.Stats(pr, stream=s); st.sort_stats("tottime").print_stats(45)
    print(s.getvalue()[-9000:])
    s = io.StringIO(); st = pstats.Stats(pr, stream=s); st.sort_stats("cumulative").print_stats(70)
    print(s.getvalue()[-14000:])
