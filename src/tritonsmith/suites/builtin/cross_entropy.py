import torch

ID = "cross_entropy"
KIND = "loss"
DIFFICULTY = 3
ENTRY_POINT = "cross_entropy"
SIGNATURE = "def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Per-row softmax cross-entropy loss, as torch.nn.functional.cross_entropy(logits.float(), target,
reduction="none"):
  loss[r] = log(sum_j exp(logits[r, j])) - logits[r, target[r]]
Inputs: logits of shape (M, V), contiguous, float32, float16 or bfloat16, where V is a vocabulary size
(up to ~128k, e.g. 32000); target of shape (M,), int64, every value in [0, V) (no ignore index).
Output: a new tensor of shape (M,), float32. Compute in float32 with a numerically stable log-sum-exp
(logits can be large); the result must match a float32 computation from the given logits.
"""
CORRECTNESS_CASES = [
    {"M": 1, "V": 1, "dtype": "float32"},
    {"M": 3, "V": 7, "dtype": "float32"},
    {"M": 17, "V": 1000, "dtype": "float16"},
    {"M": 64, "V": 333, "dtype": "float32"},
    {"M": 4, "V": 32000, "dtype": "float32"},
    {"M": 9, "V": 5000, "dtype": "float16"},
    {"M": 8, "V": 4096, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 4096, "V": 32000, "dtype": "float32"},
    {"M": 8192, "V": 32000, "dtype": "float16"},
    {"M": 2048, "V": 128256, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["logsumexp", "special_logsumexp", "nll_loss_nd", "cross_entropy"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _cross_entropy_kernel(logits_ptr, target_ptr, loss_ptr, n_cols, BLOCK: tl.constexpr):
    # one program per row; a single pass keeps a running max and rescaled sum of exponentials per lane
    row = tl.program_id(0)
    base = logits_ptr + row.to(tl.int64) * n_cols
    run_max = tl.full([BLOCK], float("-inf"), tl.float32)
    run_sum = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        new_max = tl.maximum(run_max, x)
        pivot = tl.where(new_max == float("-inf"), 0.0, new_max)  # lanes that saw only padding
        run_sum = run_sum * tl.exp(run_max - pivot) + tl.exp(x - pivot)
        run_max = new_max
    row_max = tl.max(run_max, axis=0)
    total = tl.sum(run_sum * tl.exp(run_max - row_max), axis=0)
    target = tl.load(target_ptr + row)
    target_logit = tl.load(base + target).to(tl.float32)
    tl.store(loss_ptr + row, row_max + tl.log(total) - target_logit)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits, target = logits.contiguous(), target.contiguous()
    M, V = logits.shape
    loss = torch.empty((M,), dtype=torch.float32, device=logits.device)
    if M == 0:
        return loss
    block = min(triton.next_power_of_2(V), 4096)
    num_warps = min(max(block // 256, 1), 8)
    _cross_entropy_kernel[(M,)](logits, target, loss, V, BLOCK=block, num_warps=num_warps)
    return loss
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, V = case["M"], case["V"]
    # a shared offset of 20 makes exp() overflow-prone without the max subtraction
    logits = torch.randn((M, V), generator=generator, device=device) * 3.0 + 20.0
    target = torch.randint(0, V, (M,), generator=generator, device=device, dtype=torch.int64)
    return logits.to(dtype), target


def reference(logits, target):
    return torch.nn.functional.cross_entropy(logits.float(), target, reduction="none")


def flops(case):
    # per logit: max, subtract, exp, add
    return 4 * case["M"] * case["V"]


def bytes_moved(case):
    M, V = case["M"], case["V"]
    # read logits and target (int64); write the float32 loss
    return M * V * _SIZE[case["dtype"]] + 8 * M + 4 * M
