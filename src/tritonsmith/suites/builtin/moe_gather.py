import torch

ID = "moe_gather"
KIND = "data_movement"
DIFFICULTY = 4
ENTRY_POINT = "moe_gather"
SIGNATURE = ("def moe_gather(tokens: torch.Tensor, expert_ids: torch.Tensor, num_experts: int) "
             "-> tuple[torch.Tensor, torch.Tensor]")
INSTRUCTION = """\
Write the dispatch step of a mixture-of-experts layer in Triton: group the token copies by expert.
Inputs: tokens of shape (T, D), contiguous, float32, float16 or bfloat16; expert_ids of shape
(T, top_k), contiguous int64, the experts each token is routed to (distinct within a row), every
value in [0, num_experts); num_experts, a Python int E. All tensors on the GPU. T, D, top_k and E
are arbitrary (T may be 1; some experts may receive no tokens).
Number the routed copies by their flat position e = t * top_k + s (token t, slot s = column of
expert_ids). Order all T * top_k copies by expert id, ascending, and within one expert by e,
ascending (a stable ordering).
Outputs, both new tensors:
  permuted, shape (T * top_k, D), tokens' dtype: row r is tokens[t] for the r-th copy in that
  order, so each expert's tokens form one contiguous slice, in their original order;
  counts, shape (E,), int64: counts[x] = the number of copies routed to expert x.
In PyTorch: order = sort(expert_ids.flatten(), stable=True).indices; permuted = tokens[order //
top_k]; counts = bincount(expert_ids.flatten(), minlength=E). Do the counting, the prefix sums
and the row copies in Triton kernels (no torch sort, argsort, bincount or cumsum).
"""
CORRECTNESS_CASES = [
    {"T": 1, "D": 8, "top_k": 1, "E": 4, "dtype": "float32"},
    {"T": 37, "D": 33, "top_k": 2, "E": 8, "dtype": "float16"},
    {"T": 300, "D": 64, "top_k": 2, "E": 7, "dtype": "float32"},
    {"T": 50, "D": 17, "top_k": 4, "E": 300, "dtype": "float16"},
    {"T": 100, "D": 40, "top_k": 1, "E": 3, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"T": 8192, "D": 4096, "top_k": 2, "E": 64, "dtype": "float16"},
    {"T": 16384, "D": 2048, "top_k": 1, "E": 8, "dtype": "bfloat16"},
    {"T": 4096, "D": 7168, "top_k": 8, "E": 256, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["bincount", "histc", "index", "index_select", "gather", "scatter", "scatter_add",
                 "index_put", "index_add", "unique_consecutive", "_unique2", "nonzero"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _block_histogram_kernel(ids_ptr, block_counts_ptr, n, E, BLOCK: tl.constexpr, E_BLOCK: tl.constexpr):
    # block_counts[b, x] = how many of the copies b*BLOCK .. b*BLOCK+BLOCK-1 go to expert x
    b = tl.program_id(0)
    offs = b * BLOCK + tl.arange(0, BLOCK)
    ids = tl.load(ids_ptr + offs, mask=offs < n, other=-1)
    for e0 in range(0, E, E_BLOCK):
        experts = e0 + tl.arange(0, E_BLOCK)
        hits = (ids[:, None] == experts[None, :]).to(tl.int32)
        tl.store(block_counts_ptr + b * E + experts, tl.sum(hits, axis=0), mask=experts < E)


@triton.jit
def _scan_blocks_kernel(block_counts_ptr, block_offsets_ptr, counts_ptr, num_blocks, E, CHUNK: tl.constexpr):
    # per expert x: exclusive prefix sum of block_counts[:, x] over the blocks, and the total
    x = tl.program_id(0)
    running = tl.zeros((), dtype=tl.int32)
    for b0 in range(0, num_blocks, CHUNK):
        blocks = b0 + tl.arange(0, CHUNK)
        ok = blocks < num_blocks
        c = tl.load(block_counts_ptr + blocks * E + x, mask=ok, other=0)
        inclusive = tl.cumsum(c, axis=0)
        tl.store(block_offsets_ptr + blocks * E + x, running + inclusive - c, mask=ok)
        running += tl.sum(c, axis=0)
    tl.store(counts_ptr + x, running.to(tl.int64))


@triton.jit
def _expert_starts_kernel(counts_ptr, starts_ptr, E, CHUNK: tl.constexpr):
    # starts[x] = counts[0] + ... + counts[x-1]: where expert x's slice begins
    running = tl.zeros((), dtype=tl.int32)
    for e0 in range(0, E, CHUNK):
        experts = e0 + tl.arange(0, CHUNK)
        ok = experts < E
        c = tl.load(counts_ptr + experts, mask=ok, other=0).to(tl.int32)
        inclusive = tl.cumsum(c, axis=0)
        tl.store(starts_ptr + experts, running + inclusive - c, mask=ok)
        running += tl.sum(c, axis=0)


@triton.jit
def _place_kernel(ids_ptr, block_offsets_ptr, starts_ptr, src_row_ptr, n, E, top_k,
                  BLOCK: tl.constexpr, E_BLOCK: tl.constexpr):
    # destination of copy e = starts[x] + (copies of x in earlier blocks) + (copies of x earlier in
    # this block), x its expert; record which token row lands there
    b = tl.program_id(0)
    offs = b * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    ids = tl.load(ids_ptr + offs, mask=ok, other=-1)
    dest = tl.zeros((BLOCK,), dtype=tl.int32)
    for e0 in range(0, E, E_BLOCK):
        experts = e0 + tl.arange(0, E_BLOCK)
        e_ok = experts < E
        hits = ids[:, None] == experts[None, :]
        before = tl.cumsum(hits.to(tl.int32), axis=0) - 1  # rank among this block's copies of x
        base = tl.load(block_offsets_ptr + b * E + experts, mask=e_ok, other=0) + \\
            tl.load(starts_ptr + experts, mask=e_ok, other=0)
        dest += tl.sum(tl.where(hits, before + base[None, :], 0), axis=1)
    tl.store(src_row_ptr + dest, offs // top_k, mask=ok)


@triton.jit
def _gather_rows_kernel(tokens_ptr, src_row_ptr, out_ptr, n, D,
                        ROWS: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < n
    src = tl.load(src_row_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    mask = row_ok[:, None] & (cols[None, :] < D)
    vals = tl.load(tokens_ptr + src[:, None] * D + cols[None, :], mask=mask)
    tl.store(out_ptr + rows.to(tl.int64)[:, None] * D + cols[None, :], vals, mask=mask)


def moe_gather(tokens: torch.Tensor, expert_ids: torch.Tensor, num_experts: int):
    T, D = tokens.shape
    top_k = expert_ids.shape[1]
    E = num_experts
    n = T * top_k
    tokens = tokens.contiguous()
    ids = expert_ids.contiguous()
    dev = tokens.device
    BLOCK, E_BLOCK = 128, 64
    num_blocks = triton.cdiv(n, BLOCK)
    block_counts = torch.empty((num_blocks, E), device=dev, dtype=torch.int32)
    block_offsets = torch.empty((num_blocks, E), device=dev, dtype=torch.int32)
    counts = torch.empty((E,), device=dev, dtype=torch.int64)
    starts = torch.empty((E,), device=dev, dtype=torch.int32)
    src_row = torch.empty((n,), device=dev, dtype=torch.int32)
    permuted = torch.empty((n, D), device=dev, dtype=tokens.dtype)

    _block_histogram_kernel[(num_blocks,)](ids, block_counts, n, E, BLOCK=BLOCK, E_BLOCK=E_BLOCK, num_warps=4)
    _scan_blocks_kernel[(E,)](block_counts, block_offsets, counts, num_blocks, E, CHUNK=1024, num_warps=4)
    _expert_starts_kernel[(1,)](counts, starts, E, CHUNK=1024, num_warps=4)
    _place_kernel[(num_blocks,)](ids, block_offsets, starts, src_row, n, E, top_k,
                                 BLOCK=BLOCK, E_BLOCK=E_BLOCK, num_warps=4)
    ROWS, BLOCK_D = 16, min(256, triton.next_power_of_2(D))
    _gather_rows_kernel[(triton.cdiv(n, ROWS), triton.cdiv(D, BLOCK_D))](
        tokens, src_row, permuted, n, D, ROWS=ROWS, BLOCK_D=BLOCK_D, num_warps=4)
    return permuted, counts
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    T, D, top_k, E = case["T"], case["D"], case["top_k"], case["E"]
    assert top_k <= E
    tokens = torch.randn((T, D), generator=generator, device=device).to(dtype)
    # each token's top_k experts are distinct, as a router's top-k choice is
    expert_ids = torch.rand((T, E), generator=generator, device=device).argsort(dim=1)[:, :top_k].contiguous()
    return tokens, expert_ids, E


def reference(tokens, expert_ids, num_experts):
    flat = expert_ids.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    permuted = tokens[order // expert_ids.shape[1]]
    counts = torch.bincount(flat, minlength=num_experts)
    return permuted, counts


def flops(case):
    return 0


def bytes_moved(case):
    T, D, top_k, E = case["T"], case["D"], case["top_k"], case["E"]
    size = _SIZE[case["dtype"]]
    # tokens read once, ids read once, every routed copy written, counts written
    return T * D * size + T * top_k * 8 + T * top_k * D * size + E * 8
