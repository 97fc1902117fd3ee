# AOT ID: ['0_backward']
from ctypes import c_void_p, c_long, c_int
import torch
import math
import random
import os
import tempfile
from math import inf, nan
from cmath import nanj
from torch._inductor.hooks import run_intermediate_hooks
from torch._inductor.utils import maybe_profile
from torch._inductor.codegen.memory_planning import _align as align
from torch import device, empty_strided
from torch._inductor.async_compile import AsyncCompile
from torch._inductor.select_algorithm import extern_kernels
import triton
import triton.language as tl
from torch._inductor.runtime.triton_heuristics import start_graph, end_graph
from torch._C import _cuda_getCurrentRawStream as get_raw_stream

aten = torch.ops.aten
inductor_ops = torch.ops.inductor
_quantized = torch.ops._quantized
assert_size_stride = torch._C._dynamo.guards.assert_size_stride
assert_alignment = torch._C._dynamo.guards.assert_alignment
empty_strided_cpu = torch._C._dynamo.guards._empty_strided_cpu
empty_strided_cpu_pinned = torch._C._dynamo.guards._empty_strided_cpu_pinned
empty_strided_cuda = torch._C._dynamo.guards._empty_strided_cuda
empty_strided_xpu = torch._C._dynamo.guards._empty_strided_xpu
empty_strided_mtia = torch._C._dynamo.guards._empty_strided_mtia
reinterpret_tensor = torch._C._dynamo.guards._reinterpret_tensor
alloc_from_pool = torch.ops.inductor._alloc_from_pool
async_compile = AsyncCompile()
empty_strided_p2p = torch._C._distributed_c10d._SymmetricMemory.empty_strided_p2p


# kernel path: /tmp/torchinductor_root/pf/cpfx25smvrgz23b5oxeh7rv6ljohrs6fetp23j2v6qg4mdcur5gz.py
# Topologically Sorted Source Nodes: [convert_element_type_7, o, mul_3, convert_element_type_9, mul_4, convert_element_type_11, mul_5, convert_element_type_13, mul_6, sum_1, convert_element_type_15, mul_7, sum_2, convert_element_type_17, mul_8, sum_3, convert_element_type_19, compressed_attention_backward, window_attention_backward, selected_attention_backward], Original ATen: [fsa.gated_combine_backward, fsa.gated_combine, fsa.compressed_attention_backward, fsa.window_attention_backward, fsa.selected_attention_backward]
# Source node to ATen node mapping:
#   compressed_attention_backward => compressed_attention_backward
#   convert_element_type_11 => convert_element_type_11
#   convert_element_type_13 => convert_element_type_13
#   convert_element_type_15 => convert_element_type_15
#   convert_element_type_17 => convert_element_type_17
#   convert_element_type_19 => convert_element_type_19
#   convert_element_type_7 => convert_element_type_7
#   convert_element_type_9 => convert_element_type_9
#   mul_3 => mul_3
#   mul_4 => mul_4
#   mul_5 => mul_5
#   mul_6 => mul_6
#   mul_7 => mul_7
#   mul_8 => mul_8
#   o => convert_element_type, convert_element_type_1, convert_element_type_2, convert_element_type_3, convert_element_type_4, convert_element_type_5, unsqueeze, unsqueeze_1, unsqueeze_2
#   selected_attention_backward => selected_attention_backward
#   sum_1 => sum_1
#   sum_2 => sum_2
#   sum_3 => sum_3
#   window_attention_backward => window_attention_backward
# Graph fragment:
#   %tangents_1 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=tangents_1]
#   %getitem : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem]
#   %getitem_2 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem_2]
#   %getitem_4 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem_4]
#   %primals_6 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=primals_6]
#   %primals_8 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=primals_8]
#   %primals_7 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=primals_7]
#   %sum_1 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=sum_1]
#   %sum_2 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=sum_2]
#   %sum_3 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0" = PlaceHolder[target=sum_3]
#   %convert_element_type_7 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=6] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%tangents_1, torch.float32), kwargs = {})
#   %convert_element_type : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%primals_6, torch.float32), kwargs = {})
#   %unsqueeze : Tensor "f32[1, 65536, 16, 1][1048576, 16, 1, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.unsqueeze.default](args = (%convert_element_type, 3), kwargs = {})
#   %mul_3 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %unsqueeze), kwargs = {})
#   %convert_element_type_9 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%mul_3, torch.bfloat16), kwargs = {})
#   %convert_element_type_2 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%primals_7, torch.float32), kwargs = {})
#   %unsqueeze_1 : Tensor "f32[1, 65536, 16, 1][1048576, 16, 1, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.unsqueeze.default](args = (%convert_element_type_2, 3), kwargs = {})
#   %mul_4 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %unsqueeze_1), kwargs = {})
#   %convert_element_type_11 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%mul_4, torch.bfloat16), kwargs = {})
#   %convert_element_type_4 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%primals_8, torch.float32), kwargs = {})
#   %unsqueeze_2 : Tensor "f32[1, 65536, 16, 1][1048576, 16, 1, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.unsqueeze.default](args = (%convert_element_type_4, 3), kwargs = {})
#   %mul_5 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %unsqueeze_2), kwargs = {})
#   %convert_element_type_13 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%mul_5, torch.bfloat16), kwargs = {})
#   %convert_element_type_1 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%getitem, torch.float32), kwargs = {})
#   %mul_6 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %convert_element_type_1), kwargs = {})
#   %sum_1 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.sum.dim_IntList](args = (%mul_6, [-1]), kwargs = {})
#   %convert_element_type_15 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%sum_1, torch.bfloat16), kwargs = {})
#   %convert_element_type_3 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%getitem_2, torch.float32), kwargs = {})
#   %mul_7 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %convert_element_type_3), kwargs = {})
#   %sum_2 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.sum.dim_IntList](args = (%mul_7, [-1]), kwargs = {})
#   %convert_element_type_17 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%sum_2, torch.bfloat16), kwargs = {})
#   %convert_element_type_5 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%getitem_4, torch.float32), kwargs = {})
#   %mul_8 : Tensor "f32[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.mul.Tensor](args = (%convert_element_type_7, %convert_element_type_5), kwargs = {})
#   %sum_3 : Tensor "f32[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.sum.dim_IntList](args = (%mul_8, [-1]), kwargs = {})
#   %convert_element_type_19 : Tensor "bf16[1, 65536, 16][1048576, 16, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.prims.convert_element_type.default](args = (%sum_3, torch.bfloat16), kwargs = {})
#   %compressed_attention_backward : [num_users=3] = call_function[target=torch.ops.fsa.compressed_attention_backward.default](args = (%convert_element_type_9, %primals_1, %primals_3, %primals_4, %getitem, %getitem_1, None, None, 65536, 32, 16, 0.08838834764831845, False), kwargs = {})
#   %window_attention_backward : [num_users=3] = call_function[target=torch.ops.fsa.window_attention_backward.default](args = (%convert_element_type_13, %primals_1, %primals_2, %primals_5, %getitem_4, %getitem_5, None, None, 512, 0.08838834764831845, False), kwargs = {})
#   %selected_attention_backward : [num_users=3] = call_function[target=torch.ops.fsa.selected_attention_backward.default](args = (%convert_element_type_11, %primals_1, %primals_2, %primals_5, %select_blocks, %getitem_2, %getitem_3, None, None, 64, 0.08838834764831845, False), kwargs = {})
#   return %sum_1,%sum_2,%sum_3,%buf6,%buf11,%buf16,%convert_element_type_15,%convert_element_type_17,%convert_element_type_19
triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_window_attention_backward_0 = async_compile.triton('triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_window_attention_backward_0', '''
import triton
import triton.language as tl

from torch._inductor.runtime import triton_helpers, triton_heuristics
from torch._inductor.runtime.triton_helpers import libdevice, math as tl_math
from torch._inductor.runtime.hints import AutotuneHint, ReductionHint, TileHint, DeviceProperties
triton_helpers.set_driver_to_gpu()

@triton_heuristics.persistent_reduction(
    size_hints={'x': 1048576, 'r0_': 128},
    reduction_hint=ReductionHint.INNER,
    filename=__file__,
    triton_meta={'signature': {'in_ptr0': '*bf16', 'in_ptr1': '*bf16', 'in_ptr2': '*bf16', 'in_ptr3': '*bf16', 'in_ptr4': '*bf16', 'in_ptr5': '*bf16', 'in_ptr6': '*bf16', 'out_ptr3': '*bf16', 'out_ptr4': '*bf16', 'out_ptr5': '*bf16', 'out_ptr6': '*bf16', 'out_ptr7': '*bf16', 'out_ptr8': '*bf16', 'xnumel': 'i32', 'r0_numel': 'i32', 'XBLOCK': 'constexpr'}, 'device': DeviceProperties(type='cuda', index=0, multi_processor_count=132, cc=90, major=9, regs_per_multiprocessor=65536, max_threads_per_multi_processor=2048, max_threads_per_block=1024, warp_size=32), 'constants': {}, 'native_matmul': False, 'enable_fp_fusion': True, 'launch_pdl': False, 'disable_ftz': False, 'configs': [{(0,): [['tt.divisibility', 16]], (1,): [['tt.divisibility', 16]], (2,): [['tt.divisibility', 16]], (3,): [['tt.divisibility', 16]], (4,): [['tt.divisibility', 16]], (5,): [['tt.divisibility', 16]], (6,): [['tt.divisibility', 16]], (7,): [['tt.divisibility', 16]], (8,): [['tt.divisibility', 16]], (9,): [['tt.divisibility', 16]], (10,): [['tt.divisibility', 16]], (11,): [['tt.divisibility', 16]], (12,): [['tt.divisibility', 16]], (13,): [['tt.divisibility', 16]], (14,): [['tt.divisibility', 16]]}]},
    inductor_meta={'grid_type': 'Grid1D', 'autotune_hints': set(), 'kernel_name': 'triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_window_attention_backward_0', 'mutated_arg_names': [], 'optimize_mem': True, 'no_x_dim': None, 'atomic_add_found': False, 'num_load': 7, 'num_store': 6, 'num_reduction': 3, 'backend_hash': '91D1D1166449D9E2EB66EB9770C9E2C3B0FEB787341F27FEB4D3F0338DA50336', 'assert_indirect_indexing': True, 'autotune_local_cache': True, 'autotune_pointwise': True, 'autotune_remote_cache': None, 'force_disable_caches': False, 'dynamic_scale_rblock': True, 'max_autotune': False, 'max_autotune_pointwise': False, 'min_split_scan_rblock': 256, 'spill_threshold': 16, 'store_cubin': False, 'deterministic': False, 'force_filter_reduction_configs': False, 'mix_order_reduction_allow_multi_stages': False, 'are_deterministic_algorithms_enabled': False, 'tiling_scores': {'x': 18874368, 'r0_': 2684354560}}
)
@triton.jit
def triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_window_attention_backward_0(in_ptr0, in_ptr1, in_ptr2, in_ptr3, in_ptr4, in_ptr5, in_ptr6, out_ptr3, out_ptr4, out_ptr5, out_ptr6, out_ptr7, out_ptr8, xnumel, r0_numel, XBLOCK : tl.constexpr):
    xnumel = 1048576
    r0_numel = 128
    R0_BLOCK: tl.constexpr = 128
    rnumel = r0_numel
    RBLOCK: tl.constexpr = R0_BLOCK
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:, None]
    xmask = tl.full([XBLOCK], True, tl.int1)[:, None]
    r0_index = tl.arange(0, R0_BLOCK)[None, :]
    r0_offset = 0
    r0_mask = tl.full([R0_BLOCK], True, tl.int1)[None, :]
    roffset = r0_offset
    rindex = r0_index
    r0_1 = r0_index
    x0 = xindex
    tmp0 = tl.load(in_ptr0 + (r0_1 + 128*x0), None).to(tl.float32)
    tmp2 = tl.load(in_ptr1 + (r0_1 + 128*x0), None).to(tl.float32)
    tmp8 = tl.load(in_ptr2 + (r0_1 + 128*x0), None).to(tl.float32)
    tmp14 = tl.load(in_ptr3 + (r0_1 + 128*x0), None).to(tl.float32)
    tmp20 = tl.load(in_ptr4 + (x0), None, eviction_policy='evict_last').to(tl.float32)
    tmp24 = tl.load(in_ptr5 + (x0), None, eviction_policy='evict_last').to(tl.float32)
    tmp28 = tl.load(in_ptr6 + (x0), None, eviction_policy='evict_last').to(tl.float32)
    tmp1 = tmp0.to(tl.float32)
    tmp3 = tmp2.to(tl.float32)
    tmp4 = tmp1 * tmp3
    tmp5 = tl.broadcast_to(tmp4, [XBLOCK, R0_BLOCK])
    tmp7 = tl.sum(tmp5, 1)[:, None].to(tl.float32)
    tmp9 = tmp8.to(tl.float32)
    tmp10 = tmp1 * tmp9
    tmp11 = tl.broadcast_to(tmp10, [XBLOCK, R0_BLOCK])
    tmp13 = tl.sum(tmp11, 1)[:, None].to(tl.float32)
    tmp15 = tmp14.to(tl.float32)
    tmp16 = tmp1 * tmp15
    tmp17 = tl.broadcast_to(tmp16, [XBLOCK, R0_BLOCK])
    tmp19 = tl.sum(tmp17, 1)[:, None].to(tl.float32)
    tmp21 = tmp20.to(tl.float32)
    tmp22 = tmp1 * tmp21
    tmp23 = tmp22.to(tl.float32)
    tmp25 = tmp24.to(tl.float32)
    tmp26 = tmp1 * tmp25
    tmp27 = tmp26.to(tl.float32)
    tmp29 = tmp28.to(tl.float32)
    tmp30 = tmp1 * tmp29
    tmp31 = tmp30.to(tl.float32)
    tmp32 = tmp7.to(tl.float32)
    tmp33 = tmp13.to(tl.float32)
    tmp34 = tmp19.to(tl.float32)
    tl.store(out_ptr3 + (r0_1 + 128*x0), tmp23, None)
    tl.store(out_ptr4 + (r0_1 + 128*x0), tmp27, None)
    tl.store(out_ptr5 + (r0_1 + 128*x0), tmp31, None)
    tl.store(out_ptr6 + (x0), tmp32, None)
    tl.store(out_ptr7 + (x0), tmp33, None)
    tl.store(out_ptr8 + (x0), tmp34, None)
''', device_str='cuda')


# kernel path: /tmp/torchinductor_root/d5/cd52pwuftfyfuna5ltzhrdb3bfdls2kqmk46ix3w3nff5wqyqdpg.py
# Topologically Sorted Source Nodes: [add_3, add_4], Original ATen: [aten.add]
# Source node to ATen node mapping:
#   add_3 => add_3
#   add_4 => add_4
# Graph fragment:
#   %getitem_6 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem_6]
#   %getitem_9 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem_9]
#   %getitem_12 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0" = PlaceHolder[target=getitem_12]
#   %add_3 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.add.Tensor](args = (%getitem_6, %getitem_9), kwargs = {})
#   %add_4 : Tensor "bf16[1, 65536, 16, 128][134217728, 2048, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.add.Tensor](args = (%add_3, %getitem_12), kwargs = {})
#   return %add_4
triton_poi_fused_add_1 = async_compile.triton('triton_poi_fused_add_1', '''
import triton
import triton.language as tl

from torch._inductor.runtime import triton_helpers, triton_heuristics
from torch._inductor.runtime.triton_helpers import libdevice, math as tl_math
from torch._inductor.runtime.hints import AutotuneHint, ReductionHint, TileHint, DeviceProperties
triton_helpers.set_driver_to_gpu()

@triton_heuristics.pointwise(
    size_hints={'x': 134217728}, 
    filename=__file__,
    triton_meta={'signature': {'in_out_ptr0': '*bf16', 'in_ptr0': '*bf16', 'in_ptr1': '*bf16', 'xnumel': 'i32', 'XBLOCK': 'constexpr'}, 'device': DeviceProperties(type='cuda', index=0, multi_processor_count=132, cc=90, major=9, regs_per_multiprocessor=65536, max_threads_per_multi_processor=2048, max_threads_per_block=1024, warp_size=32), 'constants': {}, 'native_matmul': False, 'enable_fp_fusion': True, 'launch_pdl': False, 'disable_ftz': False, 'configs': [{(0,): [['tt.divisibility', 16]], (1,): [['tt.divisibility', 16]], (2,): [['tt.divisibility', 16]], (3,): [['tt.divisibility', 16]]}]},
    inductor_meta={'grid_type': 'Grid1D', 'autotune_hints': set(), 'kernel_name': 'triton_poi_fused_add_1', 'mutated_arg_names': ['in_out_ptr0'], 'optimize_mem': True, 'no_x_dim': False, 'atomic_add_found': False, 'num_load': 3, 'num_store': 1, 'num_reduction': 0, 'backend_hash': '91D1D1166449D9E2EB66EB9770C9E2C3B0FEB787341F27FEB4D3F0338DA50336', 'assert_indirect_indexing': True, 'autotune_local_cache': True, 'autotune_pointwise': True, 'autotune_remote_cache': None, 'force_disable_caches': False, 'dynamic_scale_rblock': True, 'max_autotune': False, 'max_autotune_pointwise': False, 'min_split_scan_rblock': 256, 'spill_threshold': 16, 'store_cubin': False, 'deterministic': False, 'force_filter_reduction_configs': False, 'mix_order_reduction_allow_multi_stages': False, 'are_deterministic_algorithms_enabled': False, 'tiling_scores': {'x': 1342177280}},
    min_elem_per_thread=0
)
@triton.jit
def triton_poi_fused_add_1(in_out_ptr0, in_ptr0, in_ptr1, xnumel, XBLOCK : tl.constexpr):
    xnumel = 134217728
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:]
    xmask = tl.full([XBLOCK], True, tl.int1)[:]
    x0 = xindex
    tmp0 = tl.load(in_out_ptr0 + (x0), None).to(tl.float32)
    tmp1 = tl.load(in_ptr0 + (x0), None).to(tl.float32)
    tmp3 = tl.load(in_ptr1 + (x0), None).to(tl.float32)
    tmp2 = tmp0 + tmp1
    tmp4 = tmp2 + tmp3
    tl.store(in_out_ptr0 + (x0), tmp4, None)
''', device_str='cuda')


# kernel path: /tmp/torchinductor_root/ap/capgliq45dfgsktc5ax64mhjkyef5yhh3w2od7vai5uki2lz6smn.py
# Topologically Sorted Source Nodes: [add_5], Original ATen: [aten.add]
# Source node to ATen node mapping:
#   add_5 => add_5
# Graph fragment:
#   %getitem_10 : Tensor "bf16[1, 65536, 4, 128][33554432, 512, 128, 1]cuda:0" = PlaceHolder[target=getitem_10]
#   %getitem_13 : Tensor "bf16[1, 65536, 4, 128][33554432, 512, 128, 1]cuda:0" = PlaceHolder[target=getitem_13]
#   %add_5 : Tensor "bf16[1, 65536, 4, 128][33554432, 512, 128, 1]cuda:0"[num_users=1] = call_function[target=torch.ops.aten.add.Tensor](args = (%getitem_10, %getitem_13), kwargs = {})
#   return %add_5
triton_poi_fused_add_2 = async_compile.triton('triton_poi_fused_add_2', '''
import triton
import triton.language as tl

from torch._inductor.runtime import triton_helpers, triton_heuristics
from torch._inductor.runtime.triton_helpers import libdevice, math as tl_math
from torch._inductor.runtime.hints import AutotuneHint, ReductionHint, TileHint, DeviceProperties
triton_helpers.set_driver_to_gpu()

@triton_heuristics.pointwise(
    size_hints={'x': 33554432}, 
    filename=__file__,
    triton_meta={'signature': {'in_out_ptr0': '*bf16', 'in_ptr0': '*bf16', 'xnumel': 'i32', 'XBLOCK': 'constexpr'}, 'device': DeviceProperties(type='cuda', index=0, multi_processor_count=132, cc=90, major=9, regs_per_multiprocessor=65536, max_threads_per_multi_processor=2048, max_threads_per_block=1024, warp_size=32), 'constants': {}, 'native_matmul': False, 'enable_fp_fusion': True, 'launch_pdl': False, 'disable_ftz': False, 'configs': [{(0,): [['tt.divisibility', 16]], (1,): [['tt.divisibility', 16]], (2,): [['tt.divisibility', 16]]}]},
    inductor_meta={'grid_type': 'Grid1D', 'autotune_hints': set(), 'kernel_name': 'triton_poi_fused_add_2', 'mutated_arg_names': ['in_out_ptr0'], 'optimize_mem': True, 'no_x_dim': False, 'atomic_add_found': False, 'num_load': 2, 'num_store': 1, 'num_reduction': 0, 'backend_hash': '91D1D1166449D9E2EB66EB9770C9E2C3B0FEB787341F27FEB4D3F0338DA50336', 'assert_indirect_indexing': True, 'autotune_local_cache': True, 'autotune_pointwise': True, 'autotune_remote_cache': None, 'force_disable_caches': False, 'dynamic_scale_rblock': True, 'max_autotune': False, 'max_autotune_pointwise': False, 'min_split_scan_rblock': 256, 'spill_threshold': 16, 'store_cubin': False, 'deterministic': False, 'force_filter_reduction_configs': False, 'mix_order_reduction_allow_multi_stages': False, 'are_deterministic_algorithms_enabled': False, 'tiling_scores': {'x': 268435456}},
    min_elem_per_thread=0
)
@triton.jit
def triton_poi_fused_add_2(in_out_ptr0, in_ptr0, xnumel, XBLOCK : tl.constexpr):
    xnumel = 33554432
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:]
    xmask = tl.full([XBLOCK], True, tl.int1)[:]
    x0 = xindex
    tmp0 = tl.load(in_out_ptr0 + (x0), None).to(tl.float32)
    tmp1 = tl.load(in_ptr0 + (x0), None).to(tl.float32)
    tmp2 = tmp0 + tmp1
    tl.store(in_out_ptr0 + (x0), tmp2, None)
''', device_str='cuda')


async_compile.wait(globals())
del async_compile

class Runner:
    def __init__(self, partitions):
        self.partitions = partitions

    def recursively_apply_fns(self, fns):
        new_callables = []
        for fn, c in zip(fns, self.partitions):
            new_callables.append(fn(c))
        self.partitions = new_callables

    def call(self, args):
        primals_1, primals_2, primals_3, primals_4, primals_5, primals_6, primals_7, primals_8, getitem, getitem_1, select_blocks, getitem_2, getitem_3, getitem_4, getitem_5, tangents_1 = args
        args.clear()
        assert_size_stride(primals_1, (1, 65536, 16, 128), (134217728, 2048, 128, 1))
        assert_size_stride(primals_2, (1, 65536, 4, 128), (33554432, 512, 128, 1))
        assert_size_stride(primals_3, (1, 4095, 4, 128), (2096640, 512, 128, 1))
        assert_size_stride(primals_4, (1, 4095, 4, 128), (2096640, 512, 128, 1))
        assert_size_stride(primals_5, (1, 65536, 4, 128), (33554432, 512, 128, 1))
        assert_size_stride(primals_6, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(primals_7, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(primals_8, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(getitem, (1, 65536, 16, 128), (134217728, 2048, 128, 1))
        assert_size_stride(getitem_1, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(select_blocks, (1, 65536, 4, 16), (4194304, 64, 16, 1))
        assert_size_stride(getitem_2, (1, 65536, 16, 128), (134217728, 2048, 128, 1))
        assert_size_stride(getitem_3, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(getitem_4, (1, 65536, 16, 128), (134217728, 2048, 128, 1))
        assert_size_stride(getitem_5, (1, 65536, 16), (1048576, 16, 1))
        assert_size_stride(tangents_1, (1, 65536, 16, 128), (134217728, 2048, 128, 1))
        with torch.cuda._DeviceGuard(0):
            torch.cuda.set_device(0)
            buf6 = empty_strided_cuda((1, 65536, 16, 128), (134217728, 2048, 128, 1), torch.bfloat16)
            buf11 = empty_strided_cuda((1, 65536, 16, 128), (134217728, 2048, 128, 1), torch.bfloat16)
            buf16 = empty_strided_cuda((1, 65536, 16, 128), (134217728, 2048, 128, 1), torch.bfloat16)
            buf1 = empty_strided_cuda((1, 65536, 16), (1048576, 16, 1), torch.bfloat16)
            buf3 = empty_strided_cuda((1, 65536, 16), (1048576, 16, 1), torch.bfloat16)
            buf5 = empty_strided_cuda((1, 65536, 16), (1048576, 16, 1), torch.bfloat16)
            # Topologically Sorted Source Nodes: [convert_element_type_7, o, mul_3, convert_element_type_9, mul_4, convert_element_type_11, mul_5, convert_element_type_13, mul_6, sum_1, convert_element_type_15, mul_7, sum_2, convert_element_type_17, mul_8, sum_3, convert_element_type_19, compressed_attention_backward, window_attention_backward, selected_attention_backward], Original ATen: [fsa.gated_combine_backward, fsa.gated_combine, fsa.compressed_attention_backward, fsa.window_attention_backward, fsa.selected_attention_backward]
            stream0 = get_raw_stream(0)
            triton_per_fused_compressed_attention_backward_gated_combine_gated_combine_backward_selected_attention_backward_window_attention_backward_0.run(tangents_1, getitem, getitem_2, getitem_4, primals_6, primals_8, primals_7, buf6, buf11, buf16, buf1, buf3, buf5, 1048576, 128, stream=stream0)
            del primals_6
            del primals_7
            del primals_8
            del tangents_1
            # Topologically Sorted Source Nodes: [convert_element_type_7, o, mul_3, convert_element_type_9, compressed_attention_backward], Original ATen: [fsa.gated_combine_backward, fsa.gated_combine, fsa.compressed_attention_backward]
            buf7 = torch.ops.fsa.compressed_attention_backward.default(buf6, primals_1, primals_3, primals_4, getitem, getitem_1, None, None, 65536, 32, 16, 0.08838834764831845, False)
            del buf6
            del getitem
            del getitem_1
            del primals_3
            del primals_4
            buf8 = buf7[0]
            assert_size_stride(buf8, (1, 65536, 16, 128), (134217728, 2048, 128, 1), 'torch.ops.fsa.compressed_attention_backward.default')
            assert_alignment(buf8, 16, 'torch.ops.fsa.compressed_attention_backward.default')
            buf9 = buf7[1]
            assert_size_stride(buf9, (1, 4095, 4, 128), (2096640, 512, 128, 1), 'torch.ops.fsa.compressed_attention_backward.default')
            assert_alignment(buf9, 16, 'torch.ops.fsa.compressed_attention_backward.default')
            buf10 = buf7[2]
            assert_size_stride(buf10, (1, 4095, 4, 128), (2096640, 512, 128, 1), 'torch.ops.fsa.compressed_attention_backward.default')
            assert_alignment(buf10, 16, 'torch.ops.fsa.compressed_attention_backward.default')
            del buf7
            # Topologically Sorted Source Nodes: [convert_element_type_7, o, mul_5, convert_element_type_13, window_attention_backward], Original ATen: [fsa.gated_combine_backward, fsa.gated_combine, fsa.window_attention_backward]
            buf12 = torch.ops.fsa.window_attention_backward.default(buf11, primals_1, primals_2, primals_5, getitem_4, getitem_5, None, None, 512, 0.08838834764831845, False)
            del buf11
            del getitem_4
            del getitem_5
            buf13 = buf12[0]
            assert_size_stride(buf13, (1, 65536, 16, 128), (134217728, 2048, 128, 1), 'torch.ops.fsa.window_attention_backward.default')
            assert_alignment(buf13, 16, 'torch.ops.fsa.window_attention_backward.default')
            buf14 = buf12[1]
            assert_size_stride(buf14, (1, 65536, 4, 128), (33554432, 512, 128, 1), 'torch.ops.fsa.window_attention_backward.default')
            assert_alignment(buf14, 16, 'torch.ops.fsa.window_attention_backward.default')
            buf15 = buf12[2]
            assert_size_stride(buf15, (1, 65536, 4, 128), (33554432, 512, 128, 1), 'torch.ops.fsa.window_attention_backward.default')
            assert_alignment(buf15, 16, 'torch.ops.fsa.window_attention_backward.default')
            del buf12
            # Topologically Sorted Source Nodes: [convert_element_type_7, o, mul_4, convert_element_type_11, selected_attention_backward], Original ATen: [fsa.gated_combine_backward, fsa.gated_combine, fsa.selected_attention_backward]
            buf17 = torch.ops.fsa.selected_attention_backward.default(buf16, primals_1, primals_2, primals_5, select_blocks, getitem_2, getitem_3, None, None, 64, 0.08838834764831845, False, deterministic=True)
            del buf16
            del getitem_2
            del getitem_3
            del primals_1
            del primals_2
            del primals_5
            del select_blocks
            buf18 = buf17[0]
            assert_size_stride(buf18, (1, 65536, 16, 128), (134217728, 2048, 128, 1), 'torch.ops.fsa.selected_attention_backward.default')
            assert_alignment(buf18, 16, 'torch.ops.fsa.selected_attention_backward.default')
            buf19 = buf17[1]
            assert_size_stride(buf19, (1, 65536, 4, 128), (33554432, 512, 128, 1), 'torch.ops.fsa.selected_attention_backward.default')
            assert_alignment(buf19, 16, 'torch.ops.fsa.selected_attention_backward.default')
            buf20 = buf17[2]
            assert_size_stride(buf20, (1, 65536, 4, 128), (33554432, 512, 128, 1), 'torch.ops.fsa.selected_attention_backward.default')
            assert_alignment(buf20, 16, 'torch.ops.fsa.selected_attention_backward.default')
            del buf17
            buf21 = buf8; del buf8  # reuse
            # Topologically Sorted Source Nodes: [add_3, add_4], Original ATen: [aten.add]
            stream0 = get_raw_stream(0)
            triton_poi_fused_add_1.run(buf21, buf13, buf18, 134217728, stream=stream0)
            del buf13
            del buf18
            buf22 = buf14; del buf14  # reuse
            # Topologically Sorted Source Nodes: [add_5], Original ATen: [aten.add]
            stream0 = get_raw_stream(0)
            triton_poi_fused_add_2.run(buf22, buf19, 33554432, stream=stream0)
            del buf19
            buf23 = buf15; del buf15  # reuse
            # Topologically Sorted Source Nodes: [add_6], Original ATen: [aten.add]
            stream0 = get_raw_stream(0)
            triton_poi_fused_add_2.run(buf23, buf20, 33554432, stream=stream0)
            del buf20
        return (buf21, buf22, buf9, buf10, buf23, buf1, buf3, buf5, )

runner = Runner(partitions=[])
call = runner.call
recursively_apply_fns = runner.recursively_apply_fns


def get_args():
    from torch._dynamo.testing import rand_strided
    primals_1 = rand_strided((1, 65536, 16, 128), (134217728, 2048, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_2 = rand_strided((1, 65536, 4, 128), (33554432, 512, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_3 = rand_strided((1, 4095, 4, 128), (2096640, 512, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_4 = rand_strided((1, 4095, 4, 128), (2096640, 512, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_5 = rand_strided((1, 65536, 4, 128), (33554432, 512, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_6 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_7 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.bfloat16)
    primals_8 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.bfloat16)
    getitem = rand_strided((1, 65536, 16, 128), (134217728, 2048, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    getitem_1 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.float32)
    select_blocks = rand_strided((1, 65536, 4, 16), (4194304, 64, 16, 1), device='cuda:0', dtype=torch.int32)
    getitem_2 = rand_strided((1, 65536, 16, 128), (134217728, 2048, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    getitem_3 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.float32)
    getitem_4 = rand_strided((1, 65536, 16, 128), (134217728, 2048, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    getitem_5 = rand_strided((1, 65536, 16), (1048576, 16, 1), device='cuda:0', dtype=torch.float32)
    tangents_1 = rand_strided((1, 65536, 16, 128), (134217728, 2048, 128, 1), device='cuda:0', dtype=torch.bfloat16)
    return [primals_1, primals_2, primals_3, primals_4, primals_5, primals_6, primals_7, primals_8, getitem, getitem_1, select_blocks, getitem_2, getitem_3, getitem_4, getitem_5, tangents_1]


def benchmark_compiled_module(args, times=10, repeat=10):
    from torch._inductor.utils import print_performance
    fn = lambda: call(list(args))
    return print_performance(fn, times=times, repeat=repeat)


if __name__ == "__main__":
    from torch._inductor.wrapper_benchmark import compiled_module_main
    args = get_args()
    compiled_module_main('None', lambda times, repeat: benchmark_compiled_module(args, times=times, repeat=repeat))
