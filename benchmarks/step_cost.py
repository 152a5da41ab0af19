"""Step-cost benchmark: seconds per inner step and peak memory, plain fine-tuning vs each SGGFT mode.

Same batch, same backbone, same adaptable parameters for every row; the median of `--steps`
timed steps after `--warmup` untimed ones. Each (backbone, mode) runs in fresh processes, one
timed and one for memory, so peak memory is that of the steps alone: on CUDA
`max_memory_allocated`, on CPU the rise of the process's peak RSS over its RSS before the first
step (the high-water mark is reset through /proc/self/clear_refs; see `run_cell`). On CUDA it also reports tokens/s and host synchronisations per
step (counted with torch.cuda.set_sync_debug_mode).

    python benchmarks/step_cost.py --out docs/results/step_cost            # MiniLM and SmolLM2, CPU
    python benchmarks/step_cost.py --backbones minilm --device cuda --dtype bfloat16 --out ...
    python benchmarks/step_cost.py --backbones minilm --adapt full --modes plain,inplace --out docs/results/step_cost_full

`plain` is the functional plain step (`InnerLoop.step`), `inplace` the same step as `InnerLoop.run`
takes it (`PlainStep`: bitwise the same parameters, written in place).

Writes OUT.json (raw) and OUT.md (the table with the command and the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

MODES = ("plain", "surgery", "hvp", "exact", "inplace")  # inplace: the plain step as InnerLoop.run takes it (PlainStep)
TARGETS = {"surgery": 1.1, "hvp": 2.0, "exact": 2.5}  # ratio to plain: the step-cost targets
DEFAULT_BATCH = {"minilm": (32, 64), "smollm2": (8, 64)}


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_cell(cmd: list[str], label: str, with_memory: bool = True) -> dict:
    """Run a cell twice in fresh processes: for time with the default allocator, and for memory
    with glibc's mmap threshold lowered (large blocks come from mmap and go back on free, so the
    process's RSS follows the live tensors and its high-water mark over the steps is their peak;
    that allocator costs time, so it is not used for timing). Merges the two results.
    `with_memory=False`: the timing run only (no `peak_extra_bytes` in the result)."""
    out = {}
    for memory in (False, True) if with_memory else (False,):
        env = {**os.environ, "TQDM_DISABLE": "1"}
        args = list(cmd)
        if memory:
            env["MALLOC_MMAP_THRESHOLD_"] = "65536"
            args += ["--memory-run"]
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("CELL ")), None)
        if line is None:
            sys.exit(f"cell {label} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(line[5:])
        if memory:
            out["peak_extra_bytes"] = result["peak_extra_bytes"]
        else:
            out = {**result, **out}
    return out


def fixed_batch(backbone, batch_size: int, seq_len: int):
    """`batch_size` rows of exactly `seq_len` real tokens, made from the embedded demo corpus."""
    import torch

    from sggft_meta.data.pools import Batch
    from sggft_meta.task import get_task

    task = get_task("demo_product_reviews")
    texts = list(task.load_split("train").texts)
    tok = backbone.tokenizer
    rows, i = [], 0
    while len(rows) < batch_size:
        ids: list[int] = []
        while len(ids) < seq_len:
            ids += tok(texts[i % len(texts)], add_special_tokens=False)["input_ids"]
            i += 1
        rows.append(ids[:seq_len])
    input_ids = torch.tensor(rows, device=backbone.device)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    if "token_type_ids" in backbone.tokenize(["a"], None, task):
        inputs["token_type_ids"] = torch.zeros_like(input_ids)
    labels = torch.arange(batch_size, device=backbone.device) % 2
    return task, Batch(inputs, labels)


def measure(backbone_name: str, mode: str, steps: int, warmup: int, device: str, dtype: str, batch_size: int, seq_len: int,
            adapt: str = "lora") -> dict:
    """One (backbone, mode) cell, in this process."""
    import torch

    from sggft_meta.config import ModelConfig, SggftConfig
    from sggft_meta.inner_loop import InnerLoop, InnerSpec
    from sggft_meta.model.loading import load_backbone
    from sggft_meta.optim import OptimSpec
    from sggft_meta.plain_step import PlainStep

    backbone = load_backbone(ModelConfig(name=backbone_name, adapt=adapt, device=device, dtype=dtype), max_length=seq_len + 8)
    task, batch = fixed_batch(backbone, batch_size, seq_len)
    backbone.set_head(task, init="random", generator=torch.Generator().manual_seed(0))
    s = SggftConfig()
    plain = mode in ("plain", "inplace")
    lambdas = {} if plain else {"direction": s.lambda_dir, "magnitude": s.lambda_mag}
    spec = InnerSpec(lambdas=lambdas, mode="hvp" if plain else mode, kappa=s.kappa,
                     optimizer=OptimSpec(kind="adamw", weight_decay=0.01), lr=1e-3, head_lr=1e-2, grad_clip=1.0)
    loop = InnerLoop(backbone, spec)
    backbone.eval()
    state = loop.init_state(loop.flat_params())
    step = PlainStep(loop) if mode == "inplace" else loop.step
    cuda = backbone.device.type == "cuda"

    def one(t: int) -> float:
        nonlocal state
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        new, _, _ = step(state, batch, t, steps + warmup)
        state = {k: v.detach() for k, v in new.items()}
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for t in range(warmup):
        one(t)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_kib("VmRSS") * 1024
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
    syncs = None
    times = []
    if cuda:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            for t in range(steps):
                times.append(one(warmup + t))
            torch.cuda.set_sync_debug_mode(0)
        # each timed step synchronises once on purpose (to time it): not counted
        syncs = sum("synchroniz" in str(w.message) for w in caught) / steps - 1
        peak = torch.cuda.max_memory_allocated() - base
    else:
        for t in range(steps):
            times.append(one(warmup + t))
        peak = _rss_kib("VmHWM") * 1024 - base
    median = statistics.median(times)
    return {"backbone": backbone_name, "mode": mode, "median_s": median, "times_s": times, "peak_extra_bytes": max(peak, 0),
            "tokens_per_s": batch_size * seq_len / median, "host_syncs_per_step": syncs, "batch": [batch_size, seq_len],
            "adaptable_params": loop.layout.numel, "adapt": adapt, "device": str(backbone.device), "dtype": dtype,
            "torch_threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", default="minilm,smollm2")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--steps", type=int, default=20, help="timed steps per cell (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--adapt", default="lora", choices=["lora", "full"], help="adaptable parameters: LoRA + head, or every weight + head")
    ap.add_argument("--batch", help="BxL for every backbone (default: minilm 32x64, smollm2 8x64)")
    ap.add_argument("--out", required=True, help="path without suffix: writes OUT.json and OUT.md")
    ap.add_argument("--cell", help=argparse.SUPPRESS)  # internal: run one cell and print its JSON
    ap.add_argument("--memory-run", action="store_true", help=argparse.SUPPRESS)  # internal: 2 steps, for memory
    args = ap.parse_args()
    if args.cell:
        name, mode, b, l = args.cell.split(":")
        steps = 2 if args.memory_run else args.steps
        print("CELL " + json.dumps(measure(name, mode, steps, args.warmup, args.device, args.dtype, int(b), int(l), args.adapt)))
        return

    from sggft_meta.report import git_commit, machine, markdown_table, write_json_atomic

    cells = []
    for name in args.backbones.split(","):
        b, l = map(int, args.batch.split("x")) if args.batch else DEFAULT_BATCH.get(name, (32, 64))
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--cell", f"{name}:{mode}:{b}:{l}", "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--device", args.device, "--dtype", args.dtype, "--adapt", args.adapt, "--out", args.out]
            cell = run_cell(cmd, f"{name}/{mode}")
            cells.append(cell)
            print(f"{name:8s} {mode:8s} {cell['median_s']:.3f} s/step  peak +{cell['peak_extra_bytes'] / 2**20:.0f} MiB", flush=True)
    rows = []
    for c in cells:
        plain = next(x for x in cells if x["backbone"] == c["backbone"] and x["mode"] == "plain")
        ratio = c["median_s"] / plain["median_s"]
        target = TARGETS.get(c["mode"])
        c["ratio_to_plain"] = ratio
        rows.append([c["backbone"], c["mode"], "x".join(map(str, c["batch"])), f"{c['median_s']:.3f}", f"{ratio:.2f}",
                     f"<= {target}" + (" met" if ratio <= target else " MISSED") if target else "-",
                     f"{c['peak_extra_bytes'] / 2**20:.0f}", f"{c['tokens_per_s']:.0f}",
                     "-" if c["host_syncs_per_step"] is None else f"{c['host_syncs_per_step']:.1f}"])
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    info = machine()
    payload = {"command": command, "commit": git_commit(), "machine": info, "cells": cells}
    write_json_atomic(args.out + ".json", payload)
    table = markdown_table(["backbone", "mode", "batch", "s/step (median)", "x plain", "target", "peak extra MiB",
                            "tokens/s", "host syncs/step"], rows)
    where = info.get("gpu") or f"{info['cpu']}, {info['torch_threads']} threads"
    text = (f"# Inner-step cost\n\nCommand: `{command}`  \nCommit: {payload['commit']}  \nMachine: {where}; "
            f"device {args.device}, {args.dtype}; {'LoRA (r=8)' if args.adapt == 'lora' else 'every weight'} + head; AdamW; default weights (lambda_dir = lambda_mag = 0.1).\n"
            f"Median of {args.steps} steps after {args.warmup} warm-up steps; each cell in a fresh process.\n\n{table}\n")
    Path(args.out + ".md").write_text(text, encoding="utf-8")
    print("\n" + table)


if __name__ == "__main__":
    main()
