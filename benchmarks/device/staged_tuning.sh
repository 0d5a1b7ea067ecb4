#!/bin/bash
# Trusted autotuning staged against in full (benchmarks/staged_tuning.py) on TritonBench-G's autotuned golds:
# TASKS both ways, STAGED_ONLY staged only (in full it exceeds the limit), each also staged with its configs
# compiled PARALLEL at a time ahead of their benchmarks when PARALLEL > 1; no evaluation starts after BUDGET
# seconds (default 480), none runs past EVAL_TIMEOUT (default 420). Two calls that fit a device call each:
#   bash benchmarks/device/staged_tuning.sh                                    (five golds, both ways)
#   TASKS= STAGED_ONLY=int8_dequant_matmul PARALLEL=8 EVAL_TIMEOUT=270 BUDGET=300 bash benchmarks/device/staged_tuning.sh
# and, for golds that compile many kernels (PARALLEL_ONLY: staged with PARALLEL compiles only; SUITE, default
# TritonBench-G's, e.g. rocm for GEAK's ROCm benchmark):
#   SUITE=rocm TASKS=rmsnorm_fwd PARALLEL_ONLY=test_triton_sort PARALLEL=16 bash benchmarks/device/staged_tuning.sh
# Writes $OUT/staged_tuning.jsonl and $OUT/staged_tuning.md.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src
G=.bench/geak-eval/geak_eval/data
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $OUT/staged_tuning.md
python3 -c "import sys,torch,triton;print(sys.version.split()[0],torch.__version__,triton.__version__)" | tee -a $OUT/staged_tuning.md
date -u | tee -a $OUT/staged_tuning.md
S=tritonbench-g:$G/TritonBench/data/TritonBench_G_v1
[ "${SUITE:-}" = rocm ] && S=geak-rocm:$G/ROCm/data/ROCm_v1
python3 benchmarks/staged_tuning.py --suite $S \
  --tasks "${TASKS-matmul_triton2,softmax_flaggems,bmm_optimized,triton_linear_activation,dequantize_matmul}" \
  --staged-only "${STAGED_ONLY-}" --parallel-only "${PARALLEL_ONLY-}" --parallel-compiles "${PARALLEL:-0}" --budget-s "${BUDGET:-480}" \
  --timeout-s "${EVAL_TIMEOUT:-420}" --out $OUT/staged_tuning.jsonl
python3 benchmarks/staged_tuning.py --summarize $OUT/staged_tuning.jsonl | tee -a $OUT/staged_tuning.md
