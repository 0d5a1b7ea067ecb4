"""What KernelBench's problems need of a GPU at their own sizes, estimated on torch's `meta` device (no GPU, no
memory): each problem's inputs, output and weights, and, from them, what an evaluation holds at its peaks as the
evaluator holds checks (evaluate/references.py, worker.py):

  making   the references: the perf, correctness and kernels-off checks (inputs and output each), a second run
           of the reference for the reproducibility check, and the output again for the reference's own work;
           the model's weights
  judging  with the checks held in host memory (`held_on_host`, the checker's own inputs too where host
           memory has room): the candidate's process's copy of one check's inputs, its output, the output it
           keeps for the late look, and the output handed back to the checker; the weights

While timing, the after-timing check made by the checker beside the candidate's process (measuring.py) holds
less than making, counted the same way (3 inputs and 5 outputs: the new check's inputs, output and the output
again; the candidate's copy of the perf inputs, the after-timing inputs it makes, and its allocator's memory from
timing, about three outputs), so `making` stands for both.

These are estimates: a reference's temporaries (an `abs(x)` as large as x) are not counted, nor CUDA contexts.
Measurements to hold them to (an H100, nvidia-smi every 2 s: docs/benchmarks.md, eighteenth and nineteenth
sets): 19_ReLU (6 GiB in, 6 out), estimated 54 GiB making, used 55, and 28 judging with the checker's inputs
still on the GPU (session 29); 38_L1Norm_ (8 in, 8 out), estimated 72 GiB, used 77 at its peak while timing,
with the checker's perf inputs on the GPU (session 31, before b3a02a1).

    python benchmarks/kernelbench_memory.py ~/benchmarks/kernelbench/KernelBench/level1 [--capacity-gib 79]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

from tritonsmith.suites.kernelbench import problem_files

GIB = 2**30


def sizes(path: Path) -> tuple[float, float, float]:
    """(inputs, output, weights) of one problem file in GiB, made on the meta device."""
    spec = importlib.util.spec_from_file_location(f"kernelbench_memory_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        inputs = module.get_inputs()
        model = module.Model(*module.get_init_inputs())
        output = model(*inputs)
    outputs = output if isinstance(output, (tuple, list)) else [output]
    def total(tensors) -> float:
        return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor)) / GIB
    return total(inputs), total(outputs), total(model.parameters())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("level", type=Path, help="a KernelBench level folder (KernelBench/level1, ...)")
    parser.add_argument("--capacity-gib", type=float, default=79.0, help="the GPU's memory (default: an H100's)")
    parser.add_argument("--top", type=int, default=10, help="rows shown, the largest first")
    args = parser.parse_args()
    files = problem_files(args.level)
    if not files:
        print(f"{args.level}: no problem files", file=sys.stderr)
        return 2
    rows, failed = [], []
    for path in files:
        try:
            i, o, w = sizes(path)
        except Exception as exc:  # noqa: BLE001 - a problem meta cannot run: said, not fatal
            failed.append(f"{path.stem}: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        making = 4 * (i + o) + o + w
        judging = i + 3 * o + w
        rows.append((max(making, judging), path.stem, i, o, w, making, judging))
    rows.sort(reverse=True)
    print(f"{args.level}: {len(rows)} problems sized, {len(failed)} not")
    print("| problem | inputs GiB | output GiB | weights GiB | making GiB | judging GiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for _, name, i, o, w, making, judging in rows[:args.top]:
        print(f"| {name} | {i:.1f} | {o:.1f} | {w:.2f} | {making:.0f} | {judging:.0f} |")
    over = [row[1] for row in rows if row[0] > args.capacity_gib]
    print(f"over {args.capacity_gib:g} GiB by this estimate: {len(over)}" + (f" ({', '.join(over)})" if over else ""))
    print(f"a check (inputs and output) over 8 GiB: {sum(1 for row in rows if row[2] + row[3] > 8)}")
    for line in failed:
        print(f"not sized: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
