"""The Python face of the library: typed objects in, results out.

    import sggft_meta as sg
    model = sg.fit(texts, labels=labels, method=sg.SggftConfig(mode="surgery"))     # sggft_meta.fitting
    report = sg.evaluate("rte", shots=16, method="sggft", source_task="mnli")
    aligner = sg.meta_train(sg.MetaConfig(sources=["trec", "ag_news", "mrpc"], outer_steps=40), out="runs/aligner")

Python callers pass config objects or keyword arguments (`config.typed_config`); `key=value`
strings belong to the command line and YAML files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import META_TRAIN_DEFAULTS, MetaConfig, RunConfig, SggftConfig, typed_config


def evaluate(task: str | Path, config: RunConfig | dict | None = None, *, shots: int | None = None,
             seeds: list[int] | None = None, method: str | SggftConfig | None = None, **settings: Any):
    """The research path (PROTOCOL.md): adapt on each LM-BFF seed's K-shot split of `task`,
    early-stopped on its disjoint K-shot dev split, score the whole test set, and return the
    `TaskReport` (mean, std, per-seed records and gradient traces). The backbone's weights are left
    as they were; nothing comes out but the report (use `fit` for a model).

    `settings`: `typed_config`'s keywords (model, train, sggft, aligner, source_task, data_dir,
    out, progress, eval)."""
    from .run import run_method

    return run_method(typed_config(RunConfig, config, task=str(task), shots=shots, seeds=seeds, method=method, **settings))


def meta_train_config(meta: MetaConfig | dict | None = None, config: RunConfig | dict | None = None,
                      **settings: Any) -> RunConfig:
    """The RunConfig of a meta-training: `meta` (the outer loop) on top of `config`, with the
    inner-loop defaults of meta-training (`config.META_TRAIN_DEFAULTS`: SGGFT, `surgery` mode,
    alignment weight 1) for every one of those fields that the caller leaves unset."""
    cfg = typed_config(RunConfig, config, meta=meta, **settings)
    update: dict[str, Any] = {} if "method" in cfg.model_fields_set else {"method": META_TRAIN_DEFAULTS["method"]}
    chosen = cfg.sggft.model_fields_set if "sggft" in cfg.model_fields_set else set()
    defaults = {k: v for k, v in META_TRAIN_DEFAULTS["sggft"].items() if k not in chosen}
    if defaults:
        update["sggft"] = {**cfg.sggft.model_dump(exclude_unset=True), **defaults}
    return typed_config(RunConfig, cfg, **update) if update else cfg


def meta_train(meta: MetaConfig | dict | None = None, *, out: str | Path | None = None,
               config: RunConfig | dict | None = None, **settings: Any):
    """Meta-train the alignment network over pairs of `meta.sources` (METHOD.md, "The outer
    loop") and return it. With `out`, checkpoints go there, a killed run resumes from it, and the
    trained module is saved there in the transfer format (`aligner=out` in `fit` / `evaluate`)."""
    from .outer_loop import MetaLearner

    return MetaLearner(meta_train_config(meta, config, **settings)).train(out)
