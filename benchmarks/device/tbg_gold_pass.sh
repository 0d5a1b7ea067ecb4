#!/bin/bash
# The whole TritonBench-G gold pass (bench --solver baseline) at W workers per GPU into tbg4, resumed from
# .bench/tbg4.tgz when present; GPU tests of the references and suites first unless SKIP_TESTS=1. END: seconds
# this script may take. A monitor records the GPU and the busiest processes (parents, wait channels, flock
# holders) every 15 s, to see where a stalled pass waits.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src
START=$(date +%s); END=${END:-555}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import sys,torch,triton;print(sys.version.split()[0],torch.__version__,triton.__version__)"
date -u
if [ -z "$SKIP_TESTS" ]; then
  timeout -k 5 170 python3 -m pytest -q -p no:cacheprovider tests/evaluate/test_references.py \
    tests/suites/test_rocm_perf.py tests/suites/test_tritonbench.py -k gpu 2>&1 | tail -30 | tee $OUT/tests.txt
fi
TBG=.bench/geak-eval/geak_eval/data/TritonBench/data/TritonBench_G_v1
RES=""
if [ -f .bench/tbg4.tgz ]; then tar xzf .bench/tbg4.tgz; RES=--resume; fi
mkdir -p tbg4
(while true; do date -u +%T; nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
  ps -eo pid,ppid,etimes,pcpu,rss,wchan:16,args --sort=-pcpu | grep -v " ps -eo" | head -14 | cut -c1-200
  ls -i /tmp/tritonsmith-locks-$(id -u)/ 2>/dev/null | tr '\n' ' '; echo; grep FLOCK /proc/locks | head -12
  sleep 15; done) > $OUT/monitor.txt 2>&1 &
MON=$!
LEFT=$(( END - ($(date +%s) - START) - 25 ))
S=$(date +%s)
timeout -k 15 $LEFT python3 -m tritonsmith bench --suite tritonbench-g:$TBG --solver baseline \
  --workers-per-gpu ${W:-4} --out tbg4 $RES > tbg4/log.$S 2>&1
RC=$?; kill $MON 2>/dev/null
echo "bench rc $RC after $(( $(date +%s) - S )) s"
echo "$(( $(date +%s) - S ))" >> tbg4/calls.txt
tail -4 tbg4/log.$S
wc -l tbg4/results.jsonl
python3 benchmarks/gold_pass.py tbg4/results.jsonl > $OUT/gold_pass.md 2>&1; head -30 $OUT/gold_pass.md
tar czf $OUT/tbg4.tgz tbg4
