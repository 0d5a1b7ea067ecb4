#!/bin/bash
# The tests that need a GPU and the real checkouts: references and suites (-k gpu), then KernelBench's real-checkout
# tests (ModelNew kernels written here through the dir solver, golds qualifying) and one full-size problem's
# evaluation. Each part at most TESTS_S seconds (default 200).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src TRITONSMITH_GEAK_EVAL=$PWD/.bench/geak-eval \
  TRITONSMITH_KERNELBENCH=$PWD/.bench/kernelbench
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout -k 5 ${TESTS_S:-200} python3 -m pytest -q -p no:cacheprovider tests/evaluate/test_references.py \
  tests/suites/test_rocm_perf.py tests/suites/test_tritonbench.py tests/evaluate/test_timing.py -k gpu 2>&1 | tail -30 > $OUT/gpu_tests.txt
echo "suites: $(tail -1 $OUT/gpu_tests.txt)"
timeout -k 5 ${TESTS_S:-200} python3 -m pytest -q -p no:cacheprovider tests/suites/test_kernelbench.py -k "real or written" \
  2>&1 | tail -15 > $OUT/kb_tests.txt
echo "kernelbench: $(tail -1 $OUT/kb_tests.txt)"
timeout -k 5 120 python3 -m tritonsmith eval kernelbench:.bench/kernelbench/KernelBench/level1:19_ReLU \
  tests/fixtures/kernelbench/candidates/1_ReLU.py --device cuda --json > $OUT/relu19.json 2>$OUT/relu19.err
echo "19_ReLU eval rc $?"; head -c 600 $OUT/relu19.json; echo; tail -3 $OUT/relu19.err
