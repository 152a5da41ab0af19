"""Fine-tune MiniLM (LoRA + head) on one embedded demo task over three LM-BFF seeds, in Python.

Demonstrates the library call behind `sggft-meta finetune`: a RunConfig, `run_finetune`, and
the per-seed report. Offline; about a minute on two CPU cores.

    python examples/finetune_demo.py [--task demo_news_topics] [--model minilm] [--steps 60]
"""

import argparse

from sggft_meta import RunConfig, run_finetune


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="demo_news_topics")
    ap.add_argument("--model", default="minilm", help="backbone name, hub id or local path")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args(argv)
    cfg = RunConfig(task=args.task, shots=8, seeds=[13, 21, 42], model={"name": args.model},
                    train={"max_steps": args.steps}, progress=False)
    report = run_finetune(cfg)
    for seed in report.seeds:
        print(f"seed {seed.seed:3d}: test {report.metric} {seed.test_metric:.3f} (dev {seed.dev_metric:.3f}, best step {seed.best_step})")
    mean, std = report.mean_std
    print(f"{report.task} K={report.shots}: {100 * mean:.1f} ({100 * std:.1f})")


if __name__ == "__main__":
    main()
