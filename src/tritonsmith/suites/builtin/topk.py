import torch

ID = "topk"
KIND = "sort"
DIFFICULTY = 3
ENTRY_POINT = "topk"
SIGNATURE = "def topk(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]"
INSTRUCTION = """\
Write a Triton top-k: for every row of x, the k largest values and their column indices, sorted
in descending order of value (what torch.topk(x, k, dim=-1) returns).
Inputs: x of shape (R, N), contiguous, float32, float16 or bfloat16, on the GPU; k, a Python int
with 1 <= k <= min(N, 32). R and N are arbitrary (N from 1 to tens of thousands, as in picking
the top logits over a vocabulary). The values of a row are all distinct (no ties) and finite.
Outputs: a tuple (values, indices) of new (R, k) tensors: values in x's dtype, indices int64.
Both must match the reference exactly.
"""
CORRECTNESS_CASES = [
    {"R": 1, "N": 1, "k": 1, "dtype": "float32"},
    {"R": 5, "N": 37, "k": 5, "dtype": "float32"},
    {"R": 3, "N": 3000, "k": 8, "dtype": "float32"},
    {"R": 7, "N": 20, "k": 20, "dtype": "float16"},
    {"R": 2, "N": 2500, "k": 32, "dtype": "float16"},
    {"R": 4, "N": 1, "k": 1, "dtype": "float16"},
    {"R": 3, "N": 333, "k": 8, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"R": 1024, "N": 32768, "k": 8, "dtype": "float32"},
    {"R": 4096, "N": 4096, "k": 16, "dtype": "float16"},
    {"R": 8192, "N": 2048, "k": 8, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _chunk_topk_kernel(x_ptr, src_idx_ptr, out_v_ptr, out_i_ptr, n, k,
                       stride_x, stride_src, stride_ov, stride_oi,
                       BLOCK: tl.constexpr, HAS_SRC_IDX: tl.constexpr):
    # program (row, chunk): the k largest of x[row, chunk*BLOCK : (chunk+1)*BLOCK], in descending
    # order, written to out[row, chunk*k : (chunk+1)*k]. Repeated max-and-remove: k is small.
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    offs = chunk * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    x = tl.load(x_ptr + row * stride_x + offs, mask=ok, other=float("-inf")).to(tl.float32)
    if HAS_SRC_IDX:
        src = tl.load(src_idx_ptr + row * stride_src + offs, mask=ok, other=-1)
    else:
        src = offs.to(tl.int64)
    lane = tl.arange(0, BLOCK)
    out_base = chunk * k
    for j in range(k):
        best, where = tl.max(x, axis=0, return_indices=True)
        hit = lane == where
        index = tl.sum(tl.where(hit, src, 0), axis=0)
        tl.store(out_v_ptr + row * stride_ov + out_base + j, best.to(out_v_ptr.dtype.element_ty))
        tl.store(out_i_ptr + row * stride_oi + out_base + j, index)
        x = tl.where(hit, float("-inf"), x)


def topk(x: torch.Tensor, k: int):
    assert x.dim() == 2 and 1 <= k <= min(x.shape[1], 32)
    x = x.contiguous()
    R, N = x.shape
    BLOCK = min(1024, triton.next_power_of_2(N))
    vals, idx, n = x, None, N
    # each pass shrinks every row to (number of chunks) * k candidates, until one chunk is left
    while True:
        chunks = triton.cdiv(n, BLOCK)
        out_v = torch.empty((R, chunks * k), device=x.device, dtype=x.dtype)
        out_i = torch.empty((R, chunks * k), device=x.device, dtype=torch.int64)
        _chunk_topk_kernel[(R, chunks)](vals, idx if idx is not None else out_i, out_v, out_i, n, k,
                                        vals.stride(0), idx.stride(0) if idx is not None else 0,
                                        out_v.stride(0), out_i.stride(0),
                                        BLOCK=BLOCK, HAS_SRC_IDX=idx is not None, num_warps=4)
        if chunks == 1:
            return out_v, out_i
        vals, idx, n = out_v, out_i, chunks * k
        BLOCK = min(1024, triton.next_power_of_2(n))
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
    return x, case["k"]


def reference(x, k):
    values, indices = torch.topk(x, k, dim=-1, largest=True, sorted=True)
    return values, indices


def flops(case):
    return 0


def bytes_moved(case):
    R, N, k = case["R"], case["N"], case["k"]
    return R * N * _SIZE[case["dtype"]] + R * k * (_SIZE[case["dtype"]] + 8)
