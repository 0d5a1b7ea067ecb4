import math

import torch

ID = "groupnorm"
KIND = "normalization"
DIFFICULTY = 3
ENTRY_POINT = "groupnorm"
SIGNATURE = ("def groupnorm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, num_groups: int, "
             "eps: float) -> torch.Tensor")
INSTRUCTION = """\
Group normalization (torch.nn.functional.group_norm) of an image batch.
Inputs: x of shape (N, C, H, W), contiguous (NCHW), float32, float16 or bfloat16; weight and bias of shape
(C,), same dtype as x; num_groups, a Python int G that divides C; eps, a Python float (e.g. 1e-5).
Each group holds at least 2 elements.
The C channels are split into G consecutive groups of C // G channels. For each sample n and group g, the
statistics run over all (C // G) * H * W elements of that group:
  mean = average of x[n, channels of g, :, :],  var = average of (x - mean)^2 (biased)
  out[n, c, h, w] = (x[n, c, h, w] - mean) / sqrt(var + eps) * weight[c] + bias[c]
Output: a new contiguous (N, C, H, W) tensor of x's dtype. Accumulate in float32, round once at the end.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 3, 1, 1], "groups": 1, "eps": 1e-5, "dtype": "float32"},
    {"shape": [2, 6, 3, 5], "groups": 3, "eps": 1e-5, "dtype": "float32"},
    {"shape": [3, 8, 7, 7], "groups": 4, "eps": 1e-5, "dtype": "float16"},
    {"shape": [2, 32, 10, 9], "groups": 8, "eps": 1e-6, "dtype": "float32"},
    {"shape": [2, 5, 4, 3], "groups": 5, "eps": 1e-5, "dtype": "float16"},
    {"shape": [1, 12, 33, 31], "groups": 6, "eps": 1e-5, "dtype": "float16"},
    {"shape": [2, 16, 8, 8], "groups": 4, "eps": 1e-5, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16, 512, 128, 128], "groups": 32, "eps": 1e-5, "dtype": "float16"},
    {"shape": [32, 320, 64, 64], "groups": 32, "eps": 1e-5, "dtype": "float32"},
    {"shape": [16, 640, 96, 96], "groups": 32, "eps": 1e-5, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _groupnorm_kernel(x_ptr, w_ptr, b_ptr, y_ptr, group_size, hw, channels_per_group, num_groups, eps,
                      BLOCK: tl.constexpr):
    # one program per (sample, group); in NCHW a group is one contiguous run of group_size elements
    pid = tl.program_id(0)
    start = pid.to(tl.int64) * group_size
    x_group = x_ptr + start
    y_group = y_ptr + start
    first_channel = (pid % num_groups) * channels_per_group
    # statistics of values shifted by the group's first element, which keeps E[d^2] - E[d]^2 accurate
    shift = tl.load(x_group).to(tl.float32)
    total = tl.zeros([BLOCK], dtype=tl.float32)
    squares = tl.zeros([BLOCK], dtype=tl.float32)
    for offset in range(0, group_size, BLOCK):
        idx = offset + tl.arange(0, BLOCK)
        mask = idx < group_size
        d = tl.where(mask, tl.load(x_group + idx, mask=mask, other=0.0).to(tl.float32) - shift, 0.0)
        total += d
        squares += d * d
    mean_d = tl.sum(total, axis=0) / group_size
    var = tl.maximum(tl.sum(squares, axis=0) / group_size - mean_d * mean_d, 0.0)
    mean = shift + mean_d
    rstd = 1.0 / tl.sqrt(var + eps)
    for offset in range(0, group_size, BLOCK):
        idx = offset + tl.arange(0, BLOCK)
        mask = idx < group_size
        channel = first_channel + idx // hw
        x = tl.load(x_group + idx, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + channel, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + channel, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_group + idx, ((x - mean) * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)


def groupnorm(x, weight, bias, num_groups, eps):
    x = x.contiguous()
    n, c, h, w = x.shape
    y = torch.empty_like(x)
    if x.numel() == 0:
        return y
    channels_per_group = c // num_groups
    group_size = channels_per_group * h * w
    block = min(triton.next_power_of_2(group_size), 4096)
    num_warps = min(max(block // 256, 1), 8)
    _groupnorm_kernel[(n * num_groups,)](x, weight.contiguous(), bias.contiguous(), y, group_size, h * w,
                                         channels_per_group, num_groups, eps, BLOCK=block, num_warps=num_warps)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    shape = case["shape"]
    C = shape[1]
    x = torch.randn(shape, generator=generator, device=device) * 1.5 + 0.5
    weight = 1.0 + 0.5 * torch.randn((C,), generator=generator, device=device)
    bias = 0.5 * torch.randn((C,), generator=generator, device=device)
    return x.to(dtype), weight.to(dtype), bias.to(dtype), int(case["groups"]), float(case["eps"])


def reference(x, weight, bias, num_groups, eps):
    return torch.nn.functional.group_norm(x, num_groups, weight, bias, eps)


def flops(case):
    # per element: shift, sum, square, accumulate, subtract mean, scale by rstd, times weight, plus bias
    return 8 * math.prod(case["shape"])


def bytes_moved(case):
    return (2 * math.prod(case["shape"]) + 2 * case["shape"][1]) * _SIZE[case["dtype"]]
