import torch

ID = "argsort"
KIND = "sort"
DIFFICULTY = 3
ENTRY_POINT = "argsort"
SIGNATURE = "def argsort(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Write a Triton argsort for short rows: for every row of x, the column indices that sort the row
in ascending order (what torch.argsort(x, dim=-1) returns).
Input: x of shape (R, N), contiguous, float32, float16 or bfloat16, on the GPU, with
1 <= N <= 1024 and R arbitrary (from 1 to hundreds of thousands). The values of a row are all
distinct (no ties), finite and nonzero, so the answer is unique.
Output: a new (R, N) int64 tensor of indices; it must match the reference exactly.
"""
CORRECTNESS_CASES = [
    {"R": 1, "N": 1, "dtype": "float32"},
    {"R": 5, "N": 37, "dtype": "float32"},
    {"R": 3, "N": 1000, "dtype": "float32"},
    {"R": 4, "N": 1024, "dtype": "float16"},
    {"R": 19, "N": 100, "dtype": "float16"},
    {"R": 2, "N": 1, "dtype": "float16"},
    {"R": 3, "N": 333, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"R": 8192, "N": 1024, "dtype": "float32"},
    {"R": 65536, "N": 100, "dtype": "float16"},
    {"R": 16384, "N": 512, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _compare_exchange(keys, ROWS: tl.constexpr, BLOCK: tl.constexpr, k: tl.constexpr, j: tl.constexpr):
    # One step of a bitonic network: positions p and p ^ 2**j swap into order; runs of 2**k
    # positions alternate ascending / descending (p's bit k), so each step merges bitonic runs.
    # The row is viewed as [groups, 2, 2**j]: partners face each other across the middle axis.
    HALF: tl.constexpr = 1 << j
    GROUPS: tl.constexpr = BLOCK // (2 * HALF)
    y = tl.reshape(keys, [ROWS, GROUPS, 2, HALF])
    side = tl.arange(0, 2)[None, None, :, None]
    first = tl.sum(tl.where(side == 0, y, 0), axis=2)
    second = tl.sum(tl.where(side == 1, y, 0), axis=2)
    small = tl.minimum(first, second)
    big = tl.maximum(first, second)
    descending = ((tl.arange(0, GROUPS) >> (k - j - 1)) & 1)[None, :, None] == 1
    lo = tl.where(descending, big, small)
    hi = tl.where(descending, small, big)
    y = tl.where(side == 0, lo[:, :, None, :], hi[:, :, None, :])
    return tl.reshape(y, [ROWS, BLOCK])


@triton.jit
def _argsort_rows_kernel(x_ptr, out_ptr, R, N, stride_x, stride_o,
                         ROWS: tl.constexpr, BLOCK: tl.constexpr, LOG_BLOCK: tl.constexpr):
    # ROWS rows per program. Each element becomes one int64 key: the value's bits, remapped so
    # that signed-integer order is float order, in the high half and its column in the low half.
    # Sorting the keys sorts the values and carries the indices along.
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK)
    ok = (rows[:, None] < R) & (cols[None, :] < N)
    rows = rows.to(tl.int64)
    x = tl.load(x_ptr + rows[:, None] * stride_x + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    bits = x.to(tl.int32, bitcast=True)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: flip the magnitude bits
    keys = (ordered.to(tl.int64) << 32) | cols[None, :].to(tl.int64)
    keys = tl.where(ok, keys, 0x7FFFFFFFFFFFFFFF)  # padding sorts last
    for k in tl.static_range(1, LOG_BLOCK + 1):
        for step in tl.static_range(0, k):
            keys = _compare_exchange(keys, ROWS, BLOCK, k, k - 1 - step)
    index = keys.to(tl.int32).to(tl.int64)  # the low 32 bits: the original column
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], index, mask=ok)


def argsort(x: torch.Tensor) -> torch.Tensor:
    assert x.dim() == 2 and 1 <= x.shape[1] <= 1024
    x = x.contiguous()
    R, N = x.shape
    out = torch.empty((R, N), device=x.device, dtype=torch.int64)
    BLOCK = max(2, triton.next_power_of_2(N))
    ROWS = max(1, 1024 // BLOCK)  # about 1024 keys per program, in 2 warps: the network stays in registers
    warps = 2
    _argsort_rows_kernel[(triton.cdiv(R, ROWS),)](x, out, R, N, x.stride(0), out.stride(0),
                                                  ROWS=ROWS, BLOCK=BLOCK,
                                                  LOG_BLOCK=BLOCK.bit_length() - 1, num_warps=warps)
    return out
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def _distinct_values(dtype, device):
    """Sorted, distinct, normal (no zero, subnormal or infinite) values exactly representable in dtype."""
    if dtype == torch.float32:
        grid = torch.arange(1, 1 << 20, device=device, dtype=torch.float32) / 4096.0
        return torch.cat([-grid.flip(0), grid])
    low, high = (2.0 ** -14, 2.0 ** 15) if dtype == torch.float16 else (2.0 ** -60, 2.0 ** 60)
    positive = torch.arange(0, 1 << 15, dtype=torch.int32).to(torch.int16).view(dtype).float()
    positive = positive[(positive >= low) & (positive <= high)]  # ascending, like their bit patterns
    return torch.cat([-positive.flip(0), positive]).to(device)


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    R, N = case["R"], case["N"]
    table = _distinct_values(dtype, device)
    assert N <= table.numel(), "more columns than distinct values of the dtype"
    chosen = torch.randperm(table.numel(), generator=generator, device=device)[:N]
    order = torch.rand((R, N), generator=generator, device=device).argsort(dim=1)
    shift = torch.randint(0, table.numel(), (R, 1), generator=generator, device=device)
    # per row: a rotation of one random subset of the table (so distinct values), randomly ordered
    x = table[(chosen[order] + shift) % table.numel()].to(dtype)
    return (x,)


def reference(x):
    return torch.argsort(x, dim=-1)


def flops(case):
    return 0


def bytes_moved(case):
    return case["R"] * case["N"] * (_SIZE[case["dtype"]] + 8)
