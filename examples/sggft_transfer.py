"""SGGFT end to end in Python, offline on the embedded demo tasks: meta-train an alignment
network on source tasks of three domains, save it, load it back, and adapt an unseen sentiment
task with it, next to plain fine-tuning and SGGFT without an aligner.

The demo corpus is small and written for demos: this shows the API, it is not a benchmark.
A few minutes on a CPU with MiniLM.

    python examples/sggft_transfer.py [--model minilm] [--outer-steps 6] [--steps 40] [--out runs/demo_aligner]
"""

import argparse
import tempfile

from sggft_meta import load_config
from sggft_meta.align import load_aligner
from sggft_meta.outer_loop import MetaLearner
from sggft_meta.run import run_method

SOURCES = ["demo_news_topics", "demo_question_types", "demo_entailment"]  # topic, question-type, nli
TARGET = "demo_product_reviews"  # sentiment: a domain no source has


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm", help="backbone name, hub id or local path")
    ap.add_argument("--outer-steps", type=int, default=6)
    ap.add_argument("--steps", type=int, default=40, help="inner steps of each target run at most")
    ap.add_argument("--out", help="aligner directory (default: a temporary one)")
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="sggft_aligner_")

    # 1. Meta-train the aligner on the sources (surgery steps, truncated meta-gradient, Adam on the aligner).
    meta_cfg = load_config(None, [f"model.name={args.model}", "method=sggft", "sggft.mode=surgery", "sggft.lambda_align=1",
                                  f"meta.sources={SOURCES}", f"meta.outer_steps={args.outer_steps}", "meta.meta_batch=2",
                                  "meta.inner_steps=3", "meta.episode.k_shot=4", "meta.episode.q_query=4",
                                  "meta.checkpoint_every=3", "progress=false"])
    aligner = MetaLearner(meta_cfg).train(out)
    print(f"aligner saved to {out}: {type(aligner).__name__}, trained on {', '.join(SOURCES)}")

    # 2. Transfer: load it back (it is a directory: config.json + model.safetensors) and check it round-trips.
    loaded = load_aligner(out)
    same = all((a == b).all() for a, b in zip(aligner.state_dict().values(), loaded.state_dict().values()))
    print(f"loaded back from {out}: bitwise equal {bool(same)}")

    # 3. Adapt the unseen target three ways on the same K-shot splits.
    common = [f"model.name={args.model}", f"task={TARGET}", "shots=8", "seeds=[13,21]", f"train.max_steps={args.steps}",
              "progress=false"]
    runs = {
        "fine-tuning": ["method=finetune"],
        "SGGFT, no aligner": ["method=sggft", "sggft.mode=hvp"],
        "SGGFT + learned aligner": ["method=sggft", f"aligner={out}", "source_task=demo_news_topics"],
    }
    for name, overrides in runs.items():
        report = run_method(load_config(None, common + overrides))
        mean, std = report.mean_std
        extra = ""
        if report.aligner:
            seen = "seen" if report.aligner["target_domain_seen"] else "unseen"
            extra = f"; target domain {seen} in meta-training, mean gate {report.trace_mean('gate'):.3f}"
        print(f"{name:24s} {TARGET} K=8: {report.metric} {100 * mean:.1f} ({100 * std:.1f}){extra}")


if __name__ == "__main__":
    main()
