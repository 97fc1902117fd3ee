"""Does tl.range(warp_specialize=True) and a tensor descriptor compile and run on this GPU (Triton version)?"""
import torch, triton, triton.language as tl

@triton.jit
def _probe(A, B, C, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, WS: tl.constexpr):
    a_desc = tl.make_tensor_descriptor(A, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    b_desc = tl.make_tensor_descriptor(B, shape=[N, K], strides=[K, 1], block_shape=[BN, BK])
    pm = tl.program_id(0); pn = tl.program_id(1)
    acc = tl.zeros([BM, BN], tl.float32)
    for k in tl.range(0, K, BK, warp_specialize=WS):
        a = a_desc.load([pm * BM, k]); b = b_desc.load([pn * BN, k])
        acc = tl.dot(a, b.T, acc)
    offs_m = pm * BM + tl.arange(0, BM); offs_n = pn * BN + tl.arange(0, BN)
    tl.store(C + offs_m[:, None] * N + offs_n[None, :], acc)

def main():
    triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8, device="cuda"))
    M = N = K = 8192
    a = torch.randn(M, K, device="cuda", dtype=torch.bfloat16); b = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
    ref = (a.float() @ b.float().T)
    for ws in (False, True):
        for warps, stages in ((4, 3), (8, 3)):
            c = torch.full((M, N), float("nan"), device="cuda")
            try:
                fn = lambda: _probe[(M // 128, N // 128)](a, b, c, M, N, K, 128, 128, 64, ws, num_warps=warps, num_stages=stages)
                fn(); torch.cuda.synchronize()
                err = ((c - ref).norm() / ref.norm()).item()
                ms = triton.testing.do_bench(fn, warmup=10, rep=50, return_mode="median")
                print(f"warp_specialize={ws} warps={warps} stages={stages}: {2 * M * N * K / ms / 1e9:.0f} TFLOP/s err {err:.1e}", flush=True)
            except Exception as e:
                print(f"warp_specialize={ws} warps={warps}: {type(e).__name__}: {str(e)[:300]}", flush=True)

main()
