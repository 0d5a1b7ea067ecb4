#!/bin/bash
# The gold passes one after another, each resumed from .bench/NAME.tgz and skipped once complete, until END
# seconds (default 560) are spent: STAGES (default "tbg4 bi1 bi2 rocm4 kb1") of
#   tbg4   TritonBench-G at TBG_W workers per GPU (default 4)
#   bi1/2  the built-in suite, twice (#12's precision in two runs), at BI_W (default 1)
#   rocm4  GEAK's ROCm benchmark at ROCM_W (default 4)
#   kb1    KernelBench level 1 at KB_W (default 1)
#   bd1    the built-in suite's golds as candidates (`--solver dir:`, write_golds.py) at BI_W: the baseline also
#          timed alone, each perf case's time beside the candidate against it
# Each goes back as $OUT/NAME.tgz, with a line in $OUT/summary.txt; copy the tgz files into .bench/ (and carry
# them) for the next call to go on.
export PYTHONUNBUFFERED=1
START=$(date +%s); END=${END:-560}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a $OUT/summary.txt
python3 -c "import sys,torch,triton;print(sys.version.split()[0],torch.__version__,triton.__version__)" | tee -a $OUT/summary.txt
date -u | tee -a $OUT/summary.txt
G=.bench/geak-eval/geak_eval/data
for NAME in ${STAGES:-tbg4 bi1 bi2 rocm4 kb1}; do
  unset SOLVER
  case $NAME in
    tbg*) SUITE=tritonbench-g:$G/TritonBench/data/TritonBench_G_v1 W=${TBG_W:-4} ;;
    bi*) SUITE=builtin W=${BI_W:-1} ;;
    bd*) SUITE=builtin W=${BI_W:-1}; export SOLVER=dir:/tmp/golds_builtin ;;
    rocm*) SUITE=geak-rocm:$G/ROCm/data/ROCm_v1 W=${ROCM_W:-4} ;;
    kb*) SUITE=kernelbench:.bench/kernelbench/KernelBench/level1 W=${KB_W:-1} ;;
    *) echo "unknown stage $NAME"; continue ;;
  esac
  if [ -f .bench/$NAME.tgz ] && [ ! -d $NAME ]; then tar xzf .bench/$NAME.tgz; fi
  if [ -f $NAME/complete ] && { [ -z "$RERUN" ] || [ -f "$NAME/reran.${RERUN// /}" ]; }; then  # (RERUN reopens it once)
    echo "$NAME: complete before this call" | tee -a $OUT/summary.txt; continue; fi
  if [ -n "$SOLVER" ]; then PYTHONPATH=$PWD/src python3 benchmarks/write_golds.py builtin /tmp/golds_builtin; fi
  LEFT=$(( END - ($(date +%s) - START) ))
  if [ $LEFT -lt 60 ]; then echo "$NAME: not started, $LEFT s left" | tee -a $OUT/summary.txt; break; fi
  END=$LEFT bash benchmarks/device/gold_pass.sh $NAME "$SUITE" $W
done
