#!/bin/bash
# The Ray comparison (10 built-in tasks, the local pool against a Ray actor; ray from .whl/site.tar.xz) unless
# SKIP_RAY=1, then GEAK's ROCm benchmark gold pass at W workers per GPU into rocm4, resumed from .bench/rocm4.tgz.
# END: seconds this script may take.
export PYTHONUNBUFFERED=1
START=$(date +%s); END=${END:-555}
mkdir -p /tmp/site && tar xJf .whl/site.tar.xz -C /tmp/site
export PYTHONPATH=$PWD/src:/tmp/site
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
if [ -z "$SKIP_RAY" ]; then
  python3 -c "import ray; print('ray', ray.__version__)"
  timeout -k 10 ${RAY_S:-240} python3 benchmarks/ray_overhead.py --tasks 10 --json-out $OUT/ray.jsonl > $OUT/ray.log 2>&1
  echo "ray rc $?"; tail -25 $OUT/ray.log
  ray stop --force > /dev/null 2>&1
fi
ROCM=.bench/geak-eval/geak_eval/data/ROCm/data/ROCm_v1
RES=""
if [ -f .bench/rocm4.tgz ]; then tar xzf .bench/rocm4.tgz; RES=--resume; fi
mkdir -p rocm4
LEFT=$(( END - ($(date +%s) - START) - 20 ))
S=$(date +%s)
timeout -k 15 $LEFT python3 -m tritonsmith bench --suite geak-rocm:$ROCM --solver baseline \
  --workers-per-gpu ${W:-4} --out rocm4 $RES > rocm4/log.$S 2>&1
echo "bench rc $? after $(( $(date +%s) - S )) s"; echo "$(( $(date +%s) - S ))" >> rocm4/calls.txt
tail -4 rocm4/log.$S; wc -l rocm4/results.jsonl
python3 benchmarks/gold_pass.py rocm4/results.jsonl > $OUT/rocm_gold_pass.md 2>&1; head -40 $OUT/rocm_gold_pass.md
tar czf $OUT/rocm4.tgz rocm4
