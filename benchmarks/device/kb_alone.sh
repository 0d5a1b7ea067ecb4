#!/bin/bash
# KernelBench level-1 problems at their own sizes, alone on the GPU (KernelBench's largest need most of an H100):
# `bench --solver baseline` on TASKS (default 19_ReLU), then `--solver dir:` on DIR_TASKS (default the four
# problems that have ModelNew candidates in tests/fixtures; `none`: no dir run), each at most KB_LIMIT seconds (default 200), with
# nvidia-smi's used memory every 2 s. Logs, results, each evaluation's whole result and the memory samples go to
# $OUT (a folder: tar it for the run tool's file limit).
export PYTHONUNBUFFERED=1
L1=.bench/kernelbench/KernelBench/level1
LIMIT=${KB_LIMIT:-200}
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -l 2 > $OUT/kb_memory_used_mib.txt &
SMI=$!
mkdir -p /tmp/kb_candidates
cp tests/fixtures/kernelbench_candidates/*.py /tmp/kb_candidates/
cp tests/fixtures/kernelbench/candidates/1_ReLU.py /tmp/kb_candidates/19_ReLU.py
run() {  # NAME SOLVER TASKS
  local t0=$(date +%s)
  rm -rf /tmp/kb_$1  # a warm machine keeps an earlier call's bench folder, which bench would refuse to overwrite
  timeout $LIMIT env PYTHONPATH=src python3 -m tritonsmith bench --suite kernelbench:$L1 --solver $2 --tasks "$3" \
    --device cuda --out /tmp/kb_$1 > $OUT/kb_$1_log.txt 2>&1
  local rc=$?
  echo "kb_$1: rc $rc after $(( $(date +%s) - t0 )) s" | tee -a $OUT/kb_summary.txt
  cp /tmp/kb_$1/results.jsonl $OUT/kb_$1_results.jsonl 2>/dev/null
  cp -r /tmp/kb_$1/evaluations $OUT/kb_$1_evaluations 2>/dev/null  # each evaluation's whole result
}
run baseline baseline "${TASKS:-19_ReLU}"
[ "$DIR_TASKS" != none ] && run dir dir:/tmp/kb_candidates "${DIR_TASKS:-19_ReLU,21_Sigmoid,23_Softmax,25_Swish}"
kill $SMI
