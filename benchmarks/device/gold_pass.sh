#!/bin/bash
# One gold pass: `bench --solver baseline` (or SOLVER: the golds as candidates, dir:FOLDER of write_golds.py) of
# SUITE at W workers per GPU into NAME/, resumed from
# .bench/NAME.tgz when present, for at most END seconds, each evaluation for at most EVAL_TIMEOUT (default 450: less
# than a device call, so that a gold that takes longer is recorded as exceeding the limit rather than started again
# in every call: ROCm's test_triton_sort compiles 96 sort kernels, up to 110 s each). Usage: gold_pass.sh NAME SUITE [W]. The pass's logs,
# its gold_pass.md and a monitor of the GPU, each process's GPU memory, the busiest processes (parents, wait
# channels) and flock holders (every 15 s: to see where a stalled pass waits; while the GPU is idle, each keeper
# is asked for its threads' stacks, whose logs' tails come back too) stay inside NAME/, which goes back
# as $OUT/NAME.tgz; the seconds of each call are added to NAME/calls.txt, and NAME/complete is written once the
# bench has finished every task (it exits 0 or 1 then; 124 when cut off). One line per call is added to $OUT/summary.txt.
# With CARRY_CACHE set, the trusted processes' Triton cache (TRITON_CACHE_DIR) is resumed from .bench/NAME-cache.txz.part*
# (or .bench/NAME-cache.tgz.part*, or .bench/NAME-cache.tgz) and goes back as $OUT/NAME-cache.txz.partN (xz: 2.5 times
# smaller than gzip on a Triton cache, ROCm's 214 MB in 12.8 MB; .tgz.partN where xz is missing), 15 MB each, four at
# most: a pass's seconds are then not a fresh pass's. With RERUN (statuses, e.g. timeout), a resumed pass
# runs its finished tasks of those statuses again (bench --rerun: a timed-out gold, its cache warm now), in the calls
# until the pass is complete again; a call cut off before that reruns those still of those statuses.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
NAME=$1 SUITE=$2 W=${3:-1}
START=$(date +%s); END=${END:-555}
RES=""
if [ -f .bench/$NAME.tgz ] && [ ! -d $NAME ]; then tar xzf .bench/$NAME.tgz; fi
if [ -f $NAME/results.jsonl ]; then RES=--resume; fi
RERUN=${RERUN// /}  # (once: a pass that finished its rerun, NAME/reran.RERUN, does not rerun them again)
if [ -n "$RES" ] && [ -n "$RERUN" ] && [ ! -f "$NAME/reran.$RERUN" ]; then RES="--resume --rerun $RERUN"; rm -f $NAME/complete; fi
mkdir -p $NAME
Q="${XDG_CACHE_HOME:-$HOME/.cache}/tritonsmith/qualification"  # the qualifications found (which golds had to be
mkdir -p "$Q"; for f in $NAME/qualification/*.jsonl; do [ -f "$f" ] || continue  # made alone), merged: the carried
  touch "$Q/${f##*/}"; awk '!seen[$0]++' "$f" "$Q/${f##*/}" > "$Q/.merged" && mv "$Q/.merged" "$Q/${f##*/}"; done
# lines first (older), each line once (the store keeps a task's last line); awk reads the files apart (a torn line)
if [ -n "$CARRY_CACHE" ]; then  # the trusted processes' Triton cache, carried from call to call: a gold whose
  # references take more than a call to compile (ROCm's slow autotuned golds) goes on where the last call stopped
  if [ ! -d /tmp/$NAME-cache ]; then  # in the parts a call gives back (.part0, .part1, ...: copy them all into
    # .bench/ in place of the last call's, which may have been more), else whole as before
    if ls .bench/$NAME-cache.txz.part* >/dev/null 2>&1; then cat .bench/$NAME-cache.txz.part* | xz -dc | tar xf - -C /tmp
    elif ls .bench/$NAME-cache.tgz.part* >/dev/null 2>&1; then cat .bench/$NAME-cache.tgz.part* | tar xzf - -C /tmp
    elif [ -f .bench/$NAME-cache.tgz ]; then tar xzf .bench/$NAME-cache.tgz -C /tmp; fi
  fi
  mkdir -p /tmp/$NAME-cache; export TRITON_CACHE_DIR=/tmp/$NAME-cache
  CACHED=$(find /tmp/$NAME-cache -name '*.json' | wc -l)
fi
S=$(date +%s)
OLD=" $(echo /tmp/tritonsmith-eval-*) "  # pools of benches before this one: their keeper logs are not this pass's
ours() { for d in /tmp/tritonsmith-eval-*; do case "$OLD" in *" $d "*) ;; *) ls $d/keeper-*.log 2>/dev/null;; esac; done; }
(while true; do date -u +%T; nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader 2>/dev/null
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | tr '\n' ';'; echo
  ps -eo pid,ppid,etimes,pcpu,rss,wchan:16,args --sort=-pcpu | grep -v " ps -eo" | head -14 | cut -c1-200
  ls -i /tmp/tritonsmith-locks-$(id -u)/ 2>/dev/null | tr '\n' ' '; echo; grep FLOCK /proc/locks | head -12
  if nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null | grep -qx 0; then
    for p in $(pgrep -f tritonsmith.evaluate.keeper); do  # GPU idle: each keeper (started 20 s ago at least,
      [ "$(ps -o etimes= -p $p)" -gt 20 ] 2>/dev/null && kill -USR1 $p; done  # its handler set) writes its threads' stacks to its log,
    sleep 1; for f in $(ours); do  # kept now: the pool's folder is gone once the bench ends
      [ -s "$f" ] && { date -u +%T; tail -c 30000 "$f"; } > $NAME/stacks-$(basename "$f" .log).$S.txt; done; fi
  I=$(( ${I:-0} + 1 )); [ $(( I % 4 )) -eq 0 ] && { mkdir -p $NAME/qualification; cp "$Q"/*.jsonl $NAME/qualification/ \
    2>/dev/null; tar czf $OUT/$NAME.tgz $NAME 2>/dev/null; }  # so that a call cut off
  sleep 15; done) > $NAME/monitor.$S.txt 2>&1 &  # before the end still gives back what it did (at most a minute old)
MON=$!
LEFT=$(( END - ($(date +%s) - START) - 20 ))
LIMIT=${EVAL_TIMEOUT:-450}
if [ "$LIMIT" -gt $(( LEFT - 30 )) ] 2>/dev/null && [ $(( LEFT - 30 )) -ge 60 ]; then  # a limit the call ends before
  LIMIT=$(( LEFT - 30 )); echo "$NAME: evaluation limit ${EVAL_TIMEOUT:-450} s lowered to $LIMIT s, within this call" \
    | tee -a $OUT/summary.txt; fi  # can never be reached: the gold is cut off unrecorded (session 33's call 1 lost 531 s)
timeout -k 15 $LEFT python3 -m tritonsmith bench --suite "$SUITE" --solver ${SOLVER:-baseline} --workers-per-gpu $W \
  --eval-timeout-s $LIMIT --out $NAME $RES > $NAME/log.$S 2>&1
RC=$?
kill $MON 2>/dev/null; wait $MON 2>/dev/null
mkdir -p $NAME/qualification; cp "$Q"/*.jsonl $NAME/qualification/ 2>/dev/null  # for the next call's machine
for f in $(ours); do [ -f "$f" ] && tail -c 60000 "$f" > $NAME/$(basename "$f" .log).$S.log; done
TOOK=$(( $(date +%s) - S ))
echo "$TOOK" >> $NAME/calls.txt
if [ $RC -eq 0 ] || [ $RC -eq 1 ]; then touch $NAME/complete; [ -n "$RERUN" ] && touch "$NAME/reran.$RERUN"; fi
python3 benchmarks/gold_pass.py $NAME/results.jsonl > $NAME/gold_pass.md 2>&1
DONE=$(python3 -c "import sys; from tritonsmith.runs.store import ResultsStore as S; print(len(S(sys.argv[1]).records()))" \
  $NAME 2>/dev/null || echo 0)  # tasks, not lines: a task run again (RERUN) has several
echo "$NAME: bench rc $RC after $TOOK s (calls: $(paste -sd+ $NAME/calls.txt) s), $DONE results$( [ -f $NAME/complete ] && echo ', complete'); $(head -1 $NAME/gold_pass.md)" \
  | tee -a $OUT/summary.txt
tail -2 $NAME/log.$S
tar czf $OUT/$NAME.tgz $NAME
if [ -n "$CARRY_CACHE" ]; then
  # in parts of 15 MB (a file that comes back holds 16 MiB at most; ROCm's four slowest golds' cache is 37 MB gzipped,
  # TritonBench-G's 103 MB)
  if command -v xz >/dev/null; then ARC=$NAME-cache.txz; tar cf - -C /tmp $NAME-cache | xz -T0 -6 | split -b 15000000 -d -a 1 - $OUT/$ARC.part
  else ARC=$NAME-cache.tgz; tar czf - -C /tmp $NAME-cache | split -b 15000000 -d -a 1 - $OUT/$ARC.part; fi
  SIZE=$(cat $OUT/$ARC.part* | wc -c); PARTS=$(ls $OUT/$ARC.part* | wc -l)
  if [ $PARTS -gt 4 ]; then rm $OUT/$ARC.part*; WHAT="too large to come back ($SIZE bytes)"
  else WHAT="$SIZE bytes in $PARTS part(s)"; fi
  echo "$NAME: Triton cache $CACHED entries before, $(find /tmp/$NAME-cache -name '*.json' | wc -l) after; $ARC $WHAT" \
    | tee -a $OUT/summary.txt
fi
