"""SGGFT end to end in Python, offline on the embedded demo tasks: meta-train an alignment
network on source tasks of three domains, save it, load it back, and adapt an unseen sentiment
task with it, next to plain fine-tuning and SGGFT without an aligner.

The demo corpus is small and written for demos: this shows the API, it is not a benchmark.
A few minutes on a CPU with MiniLM.

    python examples/sggft_transfer.py [--model minilm] [--outer-steps 6] [--steps 40] [--out runs/demo_aligner]
"""

import argparse
import tempfile

import sggft_meta as sg

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
    meta = sg.MetaConfig(sources=SOURCES, outer_steps=args.outer_steps, meta_batch=2, inner_steps=3, checkpoint_every=3,
                         episode=sg.EpisodeSettings(k_shot=4, q_query=4))
    aligner = sg.meta_train(meta, out=out, model=args.model, progress=False)
    print(f"aligner saved to {out}: {type(aligner).__name__}, trained on {', '.join(SOURCES)}")

    # 2. Transfer: load it back (it is a directory: config.json + model.safetensors) and check it round-trips.
    loaded = sg.load_aligner(out)
    same = all((a == b).all() for a, b in zip(aligner.state_dict().values(), loaded.state_dict().values()))
    print(f"loaded back from {out}: bitwise equal {bool(same)}")

    # 3. Adapt the unseen target three ways on the same K-shot splits.
    common = dict(shots=8, seeds=[13, 21], model=args.model, train=sg.TrainConfig(max_steps=args.steps), progress=False)
    runs = {
        "fine-tuning": dict(method="finetune"),
        "SGGFT, no aligner": dict(method=sg.SggftConfig(mode="hvp")),
        "SGGFT + learned aligner": dict(method="sggft", aligner=out, source_task="demo_news_topics"),
    }
    for name, settings in runs.items():
        report = sg.evaluate(TARGET, **common, **settings)
        mean, std = report.mean_std
        extra = ""
        if report.aligner:
            seen = "seen" if report.aligner["target_domain_seen"] else "unseen"
            extra = f"; target domain {seen} in meta-training, mean gate {report.trace_mean('gate'):.3f}"
        print(f"{name:24s} {TARGET} K=8: {report.metric} {100 * mean:.1f} ({100 * std:.1f}){extra}")


if __name__ == "__main__":
    main()
