#!/bin/bash
# eval_throughput.py on a two-task TritonBench-G copy (.bench/tbg2) and, unless ONLY_TBG=1, the first 12 built-in
# tasks, with the src/ of .bench/old_src.tgz ("before") and this checkout's ("after"); LABELS picks which.
export PYTHONUNBUFFERED=1
mkdir -p /tmp/old && tar xzf .bench/old_src.tgz -C /tmp/old
T2=.bench/tbg2/geak_eval/data/TritonBench/data/TritonBench_G_v1
for L in ${LABELS:-before after}; do P=$PWD/src; [ $L = before ] && P=/tmp/old/src
  PYTHONPATH=$P timeout -k 5 $( [ $L = before ] && echo ${T1B:-170} || echo ${T1:-100} ) python3 benchmarks/eval_throughput.py \
    --suite tritonbench-g:$T2 ${TASKS:+--tasks $TASKS} --label tbg-$L --json-out $OUT/tp.jsonl > $OUT/tbg-$L.log 2>&1
  echo "tbg-$L rc $?"
  [ -n "$ONLY_TBG" ] && continue
  PYTHONPATH=$P timeout -k 5 ${T2S:-130} python3 benchmarks/eval_throughput.py --suite builtin --limit 12 \
    --label builtin-$L --json-out $OUT/tp.jsonl > $OUT/builtin-$L.log 2>&1
  echo "builtin-$L rc $?"
done
PYTHONPATH=$PWD/src python3 benchmarks/eval_throughput.py --summarize $OUT/tp.jsonl | tee $OUT/tp.md
