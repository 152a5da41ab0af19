#!/bin/bash
# MAML on SmolLM2 (tenth session: torch threads from the caller, default 1): the OOM killer's first choice (oom_score_adj 1000), re-run until it exits 0
cd /work/main
echo 1000 > /proc/self/oom_score_adj
export SGGFT_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for i in 1 2 3 4 5 6 7 8; do
  echo "=== attempt $i $(date -u)"
  sggft-meta bench run benchmarks/grids/baselines_smollm2.yaml --out docs/results/baselines_smollm2 --methods maml "$@"
  rc=$?; echo "=== rc $rc $(date -u)"
  [ $rc -eq 0 ] && break
  rm -f docs/results/baselines_smollm2/meta/maml/*/.lock
  sleep 5
done
