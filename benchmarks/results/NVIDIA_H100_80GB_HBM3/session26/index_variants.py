"""Session 26: where block_index's time goes at 64K (torch.profiler), and variants of its sort
step, timed against it (do_bench medians) with their outputs checked equal."""
import collections
import torch
import triton
import triton.testing
from torch.profiler import profile, ProfilerActivity
from benchmarks.run import BLOCK, KV_HEADS, NUM_SELECTED, random_selection
from fsa_ops.kernels import selected_attention as sa
from fsa_ops.kernels.common import sequence_tables

T, D = 65536, 128
bench = lambda f: triton.testing.do_bench(f, warmup=25, rep=200, return_mode="median")


def build_keys(idx, row_seq, cu_k, chunk_tokens):
    """_index_entries' part of block_index: (selection, keys, num_keys)."""
    batch, num_queries, num_kv_heads, n = idx.shape
    seq_base, seq_blocks = sa.sequence_blocks(cu_k, BLOCK)
    num_groups = triton.cdiv(T, BLOCK) + cu_k.shape[0] - 1
    num_keys = triton.cdiv(num_queries, chunk_tokens) * num_groups
    rows, E = batch * num_kv_heads, num_queries * n
    selection = torch.empty_like(idx)
    keys = torch.empty((rows, E), dtype=torch.int32, device=idx.device)
    sa._index_entries[(triton.cdiv(num_queries, 32), rows)](
        idx, row_seq, seq_base.to(torch.int32), seq_blocks.to(torch.int32), selection, keys,
        idx.stride(0), idx.stride(1), idx.stride(2), num_queries, num_kv_heads, n, chunk_tokens,
        num_groups, num_keys, NP=triton.next_power_of_2(n), BLOCK_T=32, num_warps=4)
    return selection, keys, num_keys


def order_flat(keys, num_keys):
    rows, E = keys.shape
    span = num_keys + 1
    offset = torch.arange(rows, device=keys.device)[:, None]
    offset_keys = (offset * span).to(torch.int32)
    flat, order = torch.sort((keys + offset_keys).reshape(-1), stable=True)
    order = (order.view(rows, E) - offset * E).to(torch.int32)
    bounds = (offset_keys + torch.arange(num_keys, device=keys.device, dtype=torch.int32)).reshape(-1)
    group_end = torch.searchsorted(flat, bounds, right=True).view(rows, num_keys) - offset * E
    return order, group_end.to(torch.int32)


def order_rows(keys, num_keys):
    """Sort along the rows (row-local indices), batched searchsorted: no offsets."""
    rows, E = keys.shape
    vals, order = torch.sort(keys, dim=1, stable=True)
    bounds = torch.arange(num_keys, device=keys.device, dtype=torch.int32).expand(rows, num_keys).contiguous()
    group_end = torch.searchsorted(vals, bounds, right=True)
    return order.to(torch.int32), group_end.to(torch.int32)


def order_rows16(keys, num_keys):
    """As order_rows, on int16 keys (num_keys < 2**15): half the radix passes."""
    rows, E = keys.shape
    vals, order = torch.sort(keys.to(torch.int16), dim=1, stable=True)
    bounds = torch.arange(num_keys, device=keys.device, dtype=torch.int16).expand(rows, num_keys).contiguous()
    group_end = torch.searchsorted(vals, bounds, right=True)
    return order.to(torch.int32), group_end.to(torch.int32)


def order_counts(keys, num_keys):
    """group_end from counts (bincount of row-offset keys, cumsum), order from the flat sort."""
    rows, E = keys.shape
    span = num_keys + 1
    offset = torch.arange(rows, device=keys.device)[:, None]
    offset_keys = (offset * span).to(torch.int32)
    flat_keys = (keys + offset_keys).reshape(-1)
    _, order = torch.sort(flat_keys, stable=True)
    order = (order.view(rows, E) - offset * E).to(torch.int32)
    counts = torch.bincount(flat_keys, minlength=rows * span).view(rows, span)[:, :num_keys]
    return order, torch.cumsum(counts, 1).to(torch.int32)


for G in (1, 4, 16):
    q = torch.randn(1, T, KV_HEADS * G, D, device="cuda", dtype=torch.bfloat16)
    idx = random_selection(1, T, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    row_seq, cu_q, cu_k = sequence_tables(q, None, None, T)
    chunk = sa.backward_chunk_tokens(q, NUM_SELECTED)
    full = lambda: sa.block_index(idx, row_seq, cu_k, BLOCK, T, chunk)
    ref = full()
    selection, keys, num_keys = build_keys(idx, row_seq, cu_k, chunk)
    line = [f"G={G} chunk={chunk} num_keys={num_keys}: block_index {bench(full):.3f} ms,"
            f" entries kernel {bench(lambda: build_keys(idx, row_seq, cu_k, chunk)):.3f}"]
    for name, fn in (("flat", order_flat), ("rows", order_rows), ("rows16", order_rows16), ("counts", order_counts)):
        if name == "rows16" and num_keys >= 2**15:
            continue
        order, group_end = fn(keys, num_keys)
        same = torch.equal(order, ref.order) and torch.equal(group_end, ref.group_end)
        line.append(f"{name} {bench(lambda: fn(keys, num_keys)):.3f}{'' if same else ' (DIFFERS)'}")
    print("; ".join(line), flush=True)
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        for _ in range(10):
            full()
        torch.cuda.synchronize()
    c = collections.defaultdict(float)
    for e in p.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            c[e.name[:90]] += e.device_time_total / 10 / 1000
    print(f"  kernels of one block_index (G={G}), ms: total {sum(c.values()):.3f}")
    for name, ms in sorted(c.items(), key=lambda x: -x[1])[:12]:
        print(f"    {ms:.4f}  {name}")

# Could the forward take the backward's token chunks (so that one index serves both)?
for G in (2, 16):
    q = torch.randn(1, T, KV_HEADS * G, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, T, KV_HEADS, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    idx = random_selection(1, T, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    bwd_chunk = sa.backward_chunk_tokens(q, NUM_SELECTED)
    fwd = lambda **kw: sa.selected_attention_forward(q, k, v, idx, None, None, BLOCK, D ** -0.5, **kw)
    print(f"G={G}: selected forward, default chunks {bench(fwd):.3f} ms, the backward's "
          f"({bwd_chunk} tokens) {bench(lambda: fwd(chunk_tokens=bwd_chunk)):.3f} ms", flush=True)
