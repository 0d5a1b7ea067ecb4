#!/bin/bash
# The built-in suite's golds against themselves, twice (RUNS, default "bi1 bi2"), at W workers per GPU (default
# 1), each resumed from .bench/RUN.tgz when present and cut at BI_S seconds; then, unless SKIP_ADV, the
# adversarial, honest and sandbox tests on CUDA. END: seconds this script may take.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src
START=$(date +%s); END=${END:-560}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
python3 -c "import sys,torch,triton;print(sys.version.split()[0],torch.__version__,triton.__version__)"
for R in ${RUNS:-bi1 bi2}; do
  RES=""
  if [ -f .bench/$R.tgz ]; then tar xzf .bench/$R.tgz; RES=--resume; fi
  S=$(date +%s)
  timeout -k 10 ${BI_S:-170} python3 -m tritonsmith bench --suite builtin --solver baseline \
    --workers-per-gpu ${W:-1} --out $R $RES > $OUT/$R.log 2>&1
  echo "$R rc $? after $(( $(date +%s) - S )) s"; tail -2 $OUT/$R.log
  echo "$(( $(date +%s) - S ))" >> $R/calls.txt
  python3 benchmarks/gold_pass.py $R/results.jsonl > $OUT/$R.md 2>&1; head -12 $OUT/$R.md
  tar czf $OUT/$R.tgz $R
done
if [ -z "$SKIP_ADV" ]; then
  LEFT=$(( END - ($(date +%s) - START) - 10 ))
  S=$(date +%s)
  TRITONSMITH_TEST_DEVICE=cuda timeout -k 10 $LEFT python3 -m pytest -q -p no:cacheprovider -n 6 \
    tests/evaluate/test_guards.py tests/evaluate/test_honest.py tests/evaluate/test_sandbox.py 2>&1 | tail -25 > $OUT/adversarial_pytest.txt
  echo "adversarial pytest after $(( $(date +%s) - S )) s"; tail -8 $OUT/adversarial_pytest.txt
fi
