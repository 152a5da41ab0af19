"""Outer-step cost: our truncated and unrolled meta-gradients against learn2learn's MAML.

One outer step = T inner steps on a support batch + the meta-gradient of the query loss, on the
same model (MiniLM + LoRA + head), the same batches (default 32 x 64 tokens each) and the same
machine, side by side in one run. learn2learn's first- and second-order MAML run on the same
module (`MAML(model, lr, first_order, allow_nograd=True)`: the frozen weights stay frozen) when
learn2learn is installed (bash tools/install_learn2learn.sh). Each cell runs in a fresh process;
peak memory is the rise of the process's peak RSS over the steps, measured in a second run with
glibc's mmap threshold lowered so freed tensors leave the RSS (step_cost.run_cell).

    python benchmarks/meta_step_cost.py --out docs/results/meta_step_cost
    python benchmarks/meta_step_cost.py --cells plain_step,truncated,l2l_first_order --modes surgery --rounds 5 --out ...

`--rounds R` runs every cell R times, interleaved, and reports medians over rounds and the median
of the per-round ratios: a ratio of two cells measured minutes apart moves with the machine.

Writes OUT.json (raw) and OUT.md (table with the command and machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_cost import _rss_kib, fixed_batch, run_cell  # noqa: E402

CELLS = ("plain_step", "truncated", "unrolled", "unrolled_autograd", "l2l_first_order", "l2l_second_order")


def measure(cell: str, mode: str, inner_steps: int, repeats: int, warmup: int, batch_size: int, seq_len: int) -> dict:
    import torch

    from sggft_meta.align import ALIGNERS
    from sggft_meta.align.source import SourceDirection
    from sggft_meta.config import ModelConfig
    from sggft_meta.data.pools import Batch
    from sggft_meta.inner_loop import InnerLoop, InnerSpec
    from sggft_meta.meta_grad import meta_gradient
    from sggft_meta.model.loading import load_backbone
    from sggft_meta.optim import OptimSpec

    backbone = load_backbone(ModelConfig(name="minilm", adapt="lora"), max_length=seq_len + 8)
    task, support = fixed_batch(backbone, batch_size, seq_len)
    _, query = fixed_batch(backbone, 2 * batch_size, seq_len)
    query = Batch({k: v[batch_size:] for k, v in query.inputs.items()}, query.labels[batch_size:])
    backbone.set_head(task, init="prototype", support=support)
    backbone.eval()
    lr = 1e-2
    if cell.startswith("l2l"):
        import learn2learn as l2l

        maml = l2l.algorithms.MAML(backbone, lr=lr, first_order=cell == "l2l_first_order", allow_nograd=True)

        def outer() -> None:
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(learner.module.loss(learner(**support.inputs), support.labels))
            learner.module.loss(learner(**query.inputs), query.labels).backward()
            for p in backbone.parameters():
                p.grad = None
    else:
        lambdas = {} if cell == "plain_step" else {"align": 1.0, "direction": 0.1, "magnitude": 0.1}
        spec = InnerSpec(lambdas=lambdas, mode=mode, lr=lr, head_lr=lr, optimizer=OptimSpec(kind="sgd"))
        aligner = ALIGNERS.get("learned")()
        loop = InnerLoop(backbone, spec, aligner=aligner)
        flipped = Batch(support.inputs, 1 - support.labels)
        source = SourceDirection.from_support(backbone, task, flipped)
        phi0 = loop.flat_params()
        if cell == "plain_step":
            state = loop.init_state(phi0)

            def outer() -> None:
                nonlocal state
                new, _, _ = loop.step(state, support, 0, 1)
                state = {k: v.detach() for k, v in new.items()}
        else:
            k = 1 if cell == "truncated" else None
            d_fn, d_mask = source.bind(loop), source.mask(loop.layout)
            adjoint = "fd" if loop.model_free_update and cell != "unrolled_autograd" else "autograd"

            def outer() -> None:
                meta_gradient(loop, phi0, [support] * inner_steps, query, k=k, source=d_fn, d_mask=d_mask,
                              psi=list(aligner.parameters()), want_init_grad=False, adjoint=adjoint)
    for _ in range(warmup):
        outer()
    base = _rss_kib("VmRSS") * 1024
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        outer()
        times.append(time.perf_counter() - t0)
    return {"cell": cell, "mode": mode if not cell.startswith("l2l") else None, "median_s": statistics.median(times),
            "times_s": times, "peak_extra_bytes": max(_rss_kib("VmHWM") * 1024 - base, 0), "inner_steps": inner_steps,
            "batch": [batch_size, seq_len], "torch_threads": torch.get_num_threads()}


def interleaved(todo: list[tuple[str, str]], args) -> list[dict]:
    """Every cell once per round, in fresh processes; the order is reversed every other round.
    Memory is measured in the first round only. Returns one merged result per cell, keeping each
    round's median in `round_medians_s`."""
    per_cell: dict[tuple[str, str], list[dict]] = {c: [] for c in todo}
    for rnd in range(args.rounds):
        for cell, mode in todo if rnd % 2 == 0 else todo[::-1]:
            cmd = [sys.executable, __file__, "--cell", f"{cell}:{mode}", "--inner-steps", str(args.inner_steps),
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--batch", args.batch, "--out", args.out]
            r = run_cell(cmd, f"{cell}/{mode}", with_memory=rnd == 0)
            per_cell[(cell, mode)].append(r)
            print(f"round {rnd + 1}/{args.rounds} {cell:18s} {mode or '':8s} {r['median_s']:.2f} s"
                  + (f"  peak +{r['peak_extra_bytes'] / 2**20:.0f} MiB" if rnd == 0 else ""), flush=True)
    results = []
    for rs in per_cell.values():
        merged = dict(rs[0])
        merged["round_medians_s"] = [r["median_s"] for r in rs]
        merged["times_s"] = [t for r in rs for t in r["times_s"]]
        merged["median_s"] = statistics.median(merged["round_medians_s"])
        results.append(merged)
    return results


def round_ratio(r: dict, ref: dict) -> tuple[float, str]:
    """Median over rounds of r's time / ref's time in the same round, and ' [lo-hi]' when there
    are several rounds."""
    ratios = [a / b for a, b in zip(r["round_medians_s"], ref["round_medians_s"])]
    spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if len(ratios) > 1 else ""
    return statistics.median(ratios), spread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--modes", default="surgery,hvp", help="SGGFT update modes for truncated / unrolled")
    ap.add_argument("--inner-steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5, help="timed outer steps per cell (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every cell this many times, interleaved, so slow drift of the machine hits all cells alike")
    ap.add_argument("--batch", default="32x64")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cell", help=argparse.SUPPRESS)
    ap.add_argument("--memory-run", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    b, l = map(int, args.batch.split("x"))
    if args.cell:
        cell, mode = args.cell.split(":")
        reps = 1 if args.memory_run else args.repeats * 4 if cell == "plain_step" else args.repeats
        print("CELL " + json.dumps(measure(cell, mode, args.inner_steps, reps, args.warmup + 2 * (cell == "plain_step"), b, l)))
        return
    from sggft_meta.report import git_commit, machine, markdown_table, write_json_atomic

    try:
        import learn2learn  # noqa: F401
        have_l2l = True
    except ImportError:
        have_l2l = False
    todo = []
    for cell in args.cells.split(","):
        if cell.startswith("l2l") and not have_l2l:
            print(f"skipping {cell}: learn2learn is not installed (bash tools/install_learn2learn.sh)", file=sys.stderr)
            continue
        for mode in (args.modes.split(",") if cell in ("truncated", "unrolled", "unrolled_autograd") else ["surgery"]):
            todo.append((cell, mode))
    results = interleaved(todo, args)
    by = {r["cell"]: r for r in results if r["cell"] in ("plain_step", "l2l_first_order", "l2l_second_order")}
    plain = by["plain_step"]["median_s"] if "plain_step" in by else None
    rows = []
    for r in results:
        fo, so = by.get("l2l_first_order"), by.get("l2l_second_order")
        label = r["cell"] + (f" ({r['mode']})" if r["cell"] in ("truncated", "unrolled", "unrolled_autograd") else "")
        target = "-"
        if r["cell"] == "truncated" and fo:
            ratio, spread = round_ratio(r, fo)
            r["ratio_to_l2l_first_order"] = ratio
            target = f"<= 1.2x l2l first-order: {ratio:.2f}x{spread} " + ("met" if ratio <= 1.2 else "MISSED")
        if r["cell"].startswith("unrolled") and so:
            t_ratio, spread = round_ratio(r, so)
            m_ratio = r["peak_extra_bytes"] / max(so["peak_extra_bytes"], 1)
            ok = t_ratio <= 1.0 and m_ratio <= 0.25
            target = (f"<= 1x l2l second-order time ({t_ratio:.2f}x{spread}), <= 0.25x its memory ({m_ratio:.2f}x): "
                      + ("met" if ok else "MISSED"))
        rows.append([label, f"{r['median_s']:.2f}", f"{r['median_s'] / plain:.1f}" if plain else "-",
                     f"{r['peak_extra_bytes'] / 2**20:.0f}", target])
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    info = machine()
    payload = {"command": command, "commit": git_commit(), "machine": info, "cells": results}
    write_json_atomic(args.out + ".json", payload)
    table = markdown_table(["cell", "s / outer step (median)", "x plain inner step", "peak extra MiB", "target"], rows)
    where = info.get("gpu") or f"{info['cpu']}, {info['torch_threads']} threads"
    text = (f"# Outer-step cost against learn2learn\n\nCommand: `{command}`  \nCommit: {payload['commit']}  \nMachine: {where}.  \n"
            f"MiniLM + LoRA (r=8) + head; {args.inner_steps} inner SGD steps on {args.batch} support, query {args.batch}; "
            f"median of {args.repeats} outer steps (plain step: {args.repeats * 4}); each cell in a fresh process"
            + (f"; {args.rounds} rounds, cells interleaved (order reversed every other round), seconds = median of "
               f"the rounds' medians, ratios = median of the per-round ratios (range in brackets), memory from round 1"
               if args.rounds > 1 else "") + f".\n\n{table}\n")
    Path(args.out + ".md").write_text(text, encoding="utf-8")
    print("\n" + table)


if __name__ == "__main__":
    main()
