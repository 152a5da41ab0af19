"""Draw LM-BFF target splits and N-way K-shot source episodes, and show what they contain.

Demonstrates the samplers: the same seed gives the same split or episode, support and query
are disjoint and balanced, and N classes sampled from a larger label set are relabelled 0..N-1.
No model is loaded; runs in seconds.

    python examples/episodes.py [--task demo_news_topics]
"""

import argparse

import numpy as np
import torch

from sggft_meta import get_task
from sggft_meta.data.samplers import LM_BFF_SEEDS, EpisodeSampler, few_shot_split


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="demo_news_topics")
    args = ap.parse_args(argv)
    task = get_task(args.task)
    train = task.load_split("train")
    print(f"{task.name}: {len(train)} train rows, classes {task.label_names}")

    for seed in LM_BFF_SEEDS:
        split = few_shot_split(task.name, train.labels, 4, seed, task.label_names)
        counts = np.bincount(train.labels[split.train], minlength=task.num_classes).tolist()
        print(f"seed {seed:3d}: train rows {split.train[:6].tolist()}... per class {counts}; dev disjoint: {not set(split.train) & set(split.dev)}")

    sampler = EpisodeSampler(task.name, train.labels, k_shot=2, q_query=3, n_way=2,
                             generator=torch.Generator().manual_seed(0), class_names=task.label_names)
    for i in range(3):
        ep = sampler.sample()
        names = [task.label_names[c] for c in ep.classes]
        print(f"episode {i}: classes {names} -> labels 0..{len(names) - 1}")
        for row, label in zip(ep.support, ep.support_labels.tolist()):
            print(f"   support [{label}] {train.texts[row][:70]}")


if __name__ == "__main__":
    main()
