import torch

ID = "embedding"
KIND = "data_movement"
DIFFICULTY = 1
ENTRY_POINT = "embedding"
SIGNATURE = "def embedding(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Token embedding lookup (torch.nn.functional.embedding): out[b, t, :] = table[ids[b, t], :].
Inputs: ids of shape (B, T), int64, contiguous, every value in [0, V) (no padding index, no negatives,
repeats allowed); table of shape (V, D), contiguous, float32, float16 or bfloat16.
Output: a new contiguous (B, T, D) tensor of table's dtype.
"""
CORRECTNESS_CASES = [
    {"B": 1, "T": 1, "V": 1, "D": 1, "dtype": "float32"},
    {"B": 2, "T": 3, "V": 7, "D": 5, "dtype": "float32"},
    {"B": 3, "T": 17, "V": 50, "D": 1000, "dtype": "float16"},
    {"B": 4, "T": 16, "V": 100, "D": 64, "dtype": "float32"},
    {"B": 1, "T": 7, "V": 10, "D": 1, "dtype": "float16"},
    {"B": 2, "T": 9, "V": 30, "D": 256, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"B": 8, "T": 4096, "V": 32000, "D": 4096, "dtype": "float16"},
    {"B": 8, "T": 4096, "V": 32000, "D": 2048, "dtype": "float32"},
    {"B": 4, "T": 8192, "V": 128256, "D": 2048, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["embedding", "index", "index_select", "gather", "take"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _embedding_kernel(ids_ptr, table_ptr, out_ptr, n_tokens, dim, col_tiles,
                      BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    pid = tl.program_id(0)
    tokens = (pid // col_tiles) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = (pid % col_tiles) * BLOCK_D + tl.arange(0, BLOCK_D)
    token_mask = tokens < n_tokens
    rows = tl.load(ids_ptr + tokens, mask=token_mask, other=0)
    mask = token_mask[:, None] & (cols[None, :] < dim)
    values = tl.load(table_ptr + rows[:, None] * dim + cols[None, :], mask=mask)
    tl.store(out_ptr + tokens[:, None].to(tl.int64) * dim + cols[None, :], values, mask=mask)


def embedding(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    ids, table = ids.contiguous(), table.contiguous()
    B, T = ids.shape
    dim = table.shape[1]
    out = torch.empty((B, T, dim), dtype=table.dtype, device=table.device)
    n_tokens = B * T
    if out.numel() == 0:
        return out
    block_d = min(triton.next_power_of_2(dim), 1024)
    block_t = max(1, 4096 // block_d)
    col_tiles = triton.cdiv(dim, block_d)
    grid = (triton.cdiv(n_tokens, block_t) * col_tiles,)
    _embedding_kernel[grid](ids, table, out, n_tokens, dim, col_tiles,
                            BLOCK_T=block_t, BLOCK_D=block_d, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    B, T, V, D = case["B"], case["T"], case["V"], case["D"]
    ids = torch.randint(0, V, (B, T), generator=generator, device=device, dtype=torch.int64)
    table = torch.randn((V, D), generator=generator, device=device).to(dtype)
    return ids, table


def reference(ids, table):
    return torch.nn.functional.embedding(ids, table)


def flops(case):
    return 0


def bytes_moved(case):
    # each looked-up row is read once and written once; the ids are read once
    tokens = case["B"] * case["T"]
    return 2 * tokens * case["D"] * _SIZE[case["dtype"]] + 8 * tokens
