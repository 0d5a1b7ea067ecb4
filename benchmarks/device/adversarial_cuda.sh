#!/bin/bash
# The fresh-call and sample-forging attacks on CUDA and an honest candidate, through `tritonsmith eval` on builtin:vector_add (one
# summary file); then, unless SKIP_PYTEST, the adversarial, honest and sandbox tests on CUDA (ADV_N pytest workers,
# default one per 24 GB of GPU memory, 2 to 6; ADV_S seconds at most).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
for c in adversarial/wait_out_spin adversarial/work_then_sync adversarial/triton_copy_while_timed \
         adversarial/forge_samples adversarial/forge_sample_start adversarial/slow_baseline_within_margin \
         honest/vector_add_fixed_block; do
  timeout -k 5 120 python3 -m tritonsmith eval builtin:vector_add tests/candidates/$c.py --device cuda --json > /tmp/adv.json 2>/tmp/adv.err
  echo "$c rc $?"
  python3 - "$c" <<'PY' | tee -a $OUT/adversarial_cuda.txt
import json, sys
try:
    r = json.load(open("/tmp/adv.json"))
except Exception as exc:
    print(sys.argv[1], "no json:", exc, open("/tmp/adv.err").read()[-800:]); raise SystemExit
print(sys.argv[1], r["status"], r.get("speedup"), [v[:240] for v in r.get("guard_violations", [])],
      [(p.get("timer"), p.get("candidate_ms"), p.get("fresh_call_ms"), p.get("fresh_call_past_wait_ms"),
        p.get("baseline_fresh_call_ms"), p.get("repeat_vs_fresh"), p.get("clock_gap_ms"), p.get("baseline_ms"),
        p.get("baseline_alone_ms")) for p in r.get("perf", [])])
PY
done
if [ -z "$SKIP_PYTEST" ]; then
  S=$(date +%s)
  # six test processes (each its own pool and keeper) filled an 80 GB H100 (session 18): one per ~24 GB, 2 to 6
  N=${ADV_N:-$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1 | awk '{n=int($1/24576); print (n<2?2:(n>6?6:n))}')}
  TRITONSMITH_TEST_DEVICE=cuda timeout -k 10 ${ADV_S:-250} python3 -m pytest -q -p no:cacheprovider -n $N \
    tests/evaluate/test_guards.py tests/evaluate/test_honest.py tests/evaluate/test_sandbox.py 2>&1 | tail -25 > $OUT/adversarial_pytest.txt
  echo "adversarial pytest after $(( $(date +%s) - S )) s"; tail -4 $OUT/adversarial_pytest.txt
fi
