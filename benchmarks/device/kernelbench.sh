#!/bin/bash
# KernelBench on the GPU: the real-checkout tests (ModelNew kernels written here through the dir solver, golds
# qualifying) and one full-size problem's evaluation unless SKIP_TESTS=1, then the level-1 gold pass at W workers
# per GPU into kb1, resumed from .bench/kb1.tgz. END: seconds this script may take.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src TRITONSMITH_KERNELBENCH=$PWD/.bench/kernelbench
START=$(date +%s); END=${END:-555}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
if [ -z "$SKIP_TESTS" ]; then
  timeout -k 5 200 python3 -m pytest -q -p no:cacheprovider tests/suites/test_kernelbench.py -k "real or written" 2>&1 | tail -15 | tee $OUT/kb_tests.txt
  timeout -k 5 120 python3 -m tritonsmith eval kernelbench:.bench/kernelbench/KernelBench/level1:19_ReLU \
    tests/fixtures/kernelbench/candidates/1_ReLU.py --device cuda --json > $OUT/relu19.json 2>$OUT/relu19.err
  echo "eval rc $?"; head -c 1500 $OUT/relu19.json; tail -3 $OUT/relu19.err
fi
RES=""
if [ -f .bench/kb1.tgz ]; then tar xzf .bench/kb1.tgz; RES=--resume; fi
mkdir -p kb1
LEFT=$(( END - ($(date +%s) - START) - 20 ))
S=$(date +%s)
timeout -k 15 $LEFT python3 -m tritonsmith bench --suite kernelbench:.bench/kernelbench/KernelBench/level1 \
  --solver baseline --workers-per-gpu ${W:-1} --out kb1 $RES > kb1/log.$S 2>&1
echo "bench rc $? after $(( $(date +%s) - S )) s"; echo "$(( $(date +%s) - S ))" >> kb1/calls.txt
tail -4 kb1/log.$S; wc -l kb1/results.jsonl
python3 benchmarks/gold_pass.py kb1/results.jsonl > $OUT/kb_gold_pass.md 2>&1; head -40 $OUT/kb_gold_pass.md
tar czf $OUT/kb1.tgz kb1
