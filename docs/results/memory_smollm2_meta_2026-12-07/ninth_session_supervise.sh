#!/bin/bash
# re-run the bench command until it exits 0 (resumes from checkpoints / finished cells)
cd /work/main
export SGGFT_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$1
shift
for i in 1 2 3 4 5 6; do
  echo "=== attempt $i $(date -u)"
  sggft-meta bench run benchmarks/grids/baselines_smollm2.yaml --out docs/results/baselines_smollm2 --tasks rte --methods sggft_align "$@"
  rc=$?; echo "=== rc $rc $(date -u)"
  [ $rc -eq 0 ] && break
  rm -f docs/results/baselines_smollm2/meta/*/*/.lock
  sleep 5
done
