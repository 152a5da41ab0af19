"""Evaluate few-shot fine-tuning and SGGFT on one embedded demo task the research way, in Python.

Demonstrates `sg.evaluate`: the LM-BFF K-shot splits of three seeds, early stopping on a
disjoint K-shot dev split, the whole test split scored, and the per-seed report with its
gradient trace. Offline; about a minute on two CPU cores with MiniLM.

    python examples/finetune_demo.py [--task demo_news_topics] [--model minilm] [--steps 40]
"""

import argparse

import sggft_meta as sg


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="demo_news_topics")
    ap.add_argument("--model", default="minilm", help="backbone name, hub id or local path")
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args(argv)
    train = sg.TrainConfig(max_steps=args.steps)
    for method in ("finetune", sg.SggftConfig(mode="surgery")):
        report = sg.evaluate(args.task, shots=8, seeds=[13, 21, 42], method=method, model=args.model, train=train, progress=False)
        for seed in report.seeds:
            print(f"{report.method:8s} seed {seed.seed:3d}: test {report.metric} {seed.test_metric:.3f} "
                  f"(dev {seed.dev_metric:.3f}, best step {seed.best_step})")
        mean, std = report.mean_std
        print(f"{report.method:8s} {report.task} K={report.shots}: {100 * mean:.1f} ({100 * std:.1f}), "
              f"gradient-norm CV {report.trace_mean('grad_norm_cv'):.2f}")


if __name__ == "__main__":
    main()
