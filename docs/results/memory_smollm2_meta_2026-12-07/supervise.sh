#!/bin/bash
# supervise.sh NAME TASKS [WAITPID]: run the align cells of TASKS; re-run (resuming from checkpoints)
# when the run is killed (OOM) before its summary line, at most 4 times
cd /work/main
export OMP_NUM_THREADS=1 SGGFT_DATA_DIR=../shared/data HF_HUB_OFFLINE=1
name=$1; tasks=$2; waitpid=$3; log=/tmp/runs/align_$name.log
if [ -n "$waitpid" ]; then while kill -0 $waitpid 2>/dev/null; do sleep 10; done; fi
for attempt in 1 2 3 4; do
  if grep -q "cells run" $log 2>/dev/null; then echo "$(date -u +%T) $name done" >> /tmp/runs/supervise.log; exit 0; fi
  [ -n "$waitpid" ] || [ $attempt -gt 1 ] && echo "$(date -u +%T) $name (re)start, attempt $attempt" >> /tmp/runs/supervise.log
  sggft-meta bench run benchmarks/grids/baselines_smollm2.yaml --out docs/results/baselines_smollm2 --tasks $tasks --methods sggft_align >> $log 2>&1
  echo "$(date -u +%T) $name exited rc=$?" >> /tmp/runs/supervise.log
  waitpid=x
done
