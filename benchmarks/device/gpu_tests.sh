#!/bin/bash
# The tests that need a GPU and the real checkouts: references and suites (-k gpu), then KernelBench's real-checkout
# tests (ModelNew kernels written here through the dir solver, golds qualifying) and one full-size problem's
# evaluation. Each part at most TESTS_S seconds (default 200); the tests' names and outcomes are written as they end
# (-v, to the file itself), so that a part cut off by its limit still says which ran and how.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src TRITONSMITH_GEAK_EVAL=$PWD/.bench/geak-eval \
  TRITONSMITH_KERNELBENCH=$PWD/.bench/kernelbench
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout -k 5 ${TESTS_S:-200} python3 -m pytest -v -p no:cacheprovider --durations=0 tests/evaluate/test_references.py \
  tests/suites/test_rocm_perf.py tests/suites/test_tritonbench.py tests/evaluate/test_timing.py -k gpu > $OUT/gpu_tests.txt 2>&1
echo "suites: $(tail -1 $OUT/gpu_tests.txt)"
timeout -k 5 ${TESTS_S:-200} python3 -m pytest -v -p no:cacheprovider --durations=0 tests/suites/test_kernelbench.py \
  -k "real or written" > $OUT/kb_tests.txt 2>&1
echo "kernelbench: $(tail -1 $OUT/kb_tests.txt)"
timeout -k 5 ${RELU_S:-240} python3 -m tritonsmith eval kernelbench:.bench/kernelbench/KernelBench/level1:19_ReLU \
  tests/fixtures/kernelbench/candidates/1_ReLU.py --device cuda --json > $OUT/relu19.json 2>$OUT/relu19.err
echo "19_ReLU eval rc $?"; head -c 600 $OUT/relu19.json; echo; tail -3 $OUT/relu19.err
