#!/bin/bash
# Tenth session: give the question-type-held-out MAML meta-training the second core once the RTE
# cells are done. A: when the TREC --shard 2/2 process has started (the RTE cells are finished; it
# only waits on the meta-training's lock), wait for the meta-training's next checkpoint, stop both
# TREC processes and restart --shard 1/2 with two torch threads (it resumes from that checkpoint),
# then --shard 2/2 again (it waits on the lock). B: when the meta-training has finished (train_seconds
# in bench_meta.json), stop --shard 1/2 (it would hold the meta-training's memory and two threads)
# and start it again with one thread, beside --shard 2/2.
cd /work/main
D=docs/results/memory_smollm2_meta_2026-12-07
Q=docs/results/baselines_smollm2/meta/maml/question-type
until pgrep -f "methods maml --tasks trec --shard 2/2" > /dev/null; do sleep 10; done
was=$(cat $Q/checkpoints/latest)
echo "A: rte cells done at $(date -u), latest checkpoint $was"
until [ "$(cat $Q/checkpoints/latest 2>/dev/null)" != "$was" ] && [ -s "$Q/init.json" ]; do sleep 3; done
sleep 5
echo "A: new checkpoint $(cat $Q/checkpoints/latest) at $(date -u); restarting with two threads"
pkill -f "tasks trec --shard 2/2"; pkill -f "tenth_session_supervise_maml.sh --tasks trec --shard 1/2"; pkill -f "methods maml --tasks trec --shard 1/2"
sleep 10
rm -f docs/results/baselines_smollm2/meta/maml/*/.lock
OMP_NUM_THREADS=2 setsid nohup bash $D/tenth_session_supervise_maml.sh --tasks trec --shard 1/2 > /tmp/runs/trec_meta2.log 2>&1 &
sleep 60
OMP_NUM_THREADS=1 setsid nohup bash $D/tenth_session_supervise_maml.sh --tasks trec --shard 2/2 > /tmp/runs/trec_2of2.log 2>&1 &
until python -c "import json,sys; sys.exit(0 if json.load(open('$Q/bench_meta.json')).get('train_seconds') else 1)" 2>/dev/null; do sleep 10; done
echo "B: meta-training finished at $(date -u); restarting --shard 1/2 with one thread"
pkill -f "tenth_session_supervise_maml.sh --tasks trec --shard 1/2"; pkill -f "methods maml --tasks trec --shard 1/2"
sleep 10
OMP_NUM_THREADS=1 setsid nohup bash $D/tenth_session_supervise_maml.sh --tasks trec --shard 1/2 > /tmp/runs/trec_1of2.log 2>&1 &
echo "B: started at $(date -u)"
