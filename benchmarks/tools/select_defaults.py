"""Choose fine-tuning defaults on the K-shot *dev* splits only (PROTOCOL.md).

Runs each candidate setting over the five LM-BFF seeds of a few tasks and ranks the candidates
by mean dev metric. Test metrics are recorded alongside but never used for the choice.

    python benchmarks/tools/select_defaults.py --data-dir ../shared/data --out docs/results/select_defaults.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sggft_meta.config import load_config
from sggft_meta.model.loading import load_backbone
from sggft_meta.report import machine, write_json_atomic
from sggft_meta.run import run_finetune

CANDIDATES = {
    "lora_qv_lr1e-3": [],
    "lora_qv_lr5e-3": ["train.lr=5e-3"],
    "lora_all_lr1e-3": ["model.lora.targets=[query,key,value,dense]"],
    "lora_all_lr5e-3": ["model.lora.targets=[query,key,value,dense]", "train.lr=5e-3"],
    "full_lr5e-5": ["model.adapt=full", "train.lr=5e-5"],
    "head_only": ["model.adapt=head"],
    "lora_qv_lr1e-3_long": ["train.max_steps=300", "train.patience=10"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--tasks", default="sst2,trec,rte")
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    records = []  # resumable: cells already in --out are kept and skipped
    if Path(args.out).is_file():
        records = json.loads(Path(args.out).read_text())["records"]
    done = {(r["candidate"], r["task"]) for r in records}
    for name in args.candidates.split(","):
        for task in args.tasks.split(","):
            if (name, task) in done:
                continue
            cfg = load_config(None, CANDIDATES[name] + [f"task={task}", f"shots={args.shots}", f"data.dir={args.data_dir}", "progress=false"])
            t0 = time.perf_counter()
            report = run_finetune(cfg, load_backbone(cfg.model, cfg.data.max_length))
            dev = sum(s.dev_metric for s in report.seeds) / len(report.seeds)
            test, std = report.mean_std
            records.append({"candidate": name, "overrides": CANDIDATES[name], "task": task, "dev_mean": dev,
                            "test_mean": test, "test_std": std, "seconds": time.perf_counter() - t0,
                            "per_seed": [s.__dict__ for s in report.seeds]})
            print(f"{name:24s} {task:6s} dev {dev*100:5.1f}  test {test*100:5.1f} ({std*100:.1f})  {time.perf_counter()-t0:6.0f}s", flush=True)
            write_json_atomic(args.out, {"machine": machine(), "shots": args.shots, "records": records})
    by = {}
    for r in records:
        by.setdefault(r["candidate"], []).append(r["dev_mean"])
    print("\nmean dev over tasks (the selection criterion):")
    for name, devs in sorted(by.items(), key=lambda kv: -sum(kv[1]) / len(kv[1])):
        print(f"  {name:24s} {100 * sum(devs) / len(devs):5.1f}")


if __name__ == "__main__":
    main()
