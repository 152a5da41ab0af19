#!/bin/bash
# Tenth session: wait until the NLI-held-out MAML meta-training has finished (its bench_meta.json
# gains train_seconds, written by _finish after the last checkpoint), then stop the process that ran
# it (it would go on to its cells holding the meta-training's ~9 GB) and start, in fresh processes:
# the question-type-held-out MAML meta-training (OOM-first; then its shard of the TREC cells) and the five
# RTE MAML cells beside it.
cd /work/main
D=docs/results/memory_smollm2_meta_2026-12-07
M=docs/results/baselines_smollm2/meta/maml/nli/bench_meta.json
until python -c "import json,sys; sys.exit(0 if json.load(open('$M')).get('train_seconds') else 1)" 2>/dev/null; do sleep 15; done
echo "nli meta-training finished $(date -u)"
pkill -f "tenth_session_supervise_maml.sh --tasks rte" ; pkill -f "methods maml --tasks rte"
sleep 10
rm -f docs/results/baselines_smollm2/meta/maml/*/.lock
OMP_NUM_THREADS=1 setsid nohup bash $D/tenth_session_supervise_maml.sh --tasks trec --shard 1/2 > /tmp/runs/trec_meta.log 2>&1 &
sleep 60
# then, in the same process slot, the second shard of the TREC cells (it waits on the meta-training lock)
OMP_NUM_THREADS=1 setsid nohup bash -c "bash $D/tenth_session_supervise_maml.sh --tasks rte; bash $D/tenth_session_supervise_maml.sh --tasks trec --shard 2/2" > /tmp/runs/rte_cells.log 2>&1 &
echo "started trec meta-training and rte cells $(date -u)"
