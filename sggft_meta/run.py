"""Running a method over the LM-BFF seeds of a task: the library call behind `sggft-meta finetune`."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from . import __version__
from .config import RunConfig
from .data.samplers import few_shot_split
from .evaluate import score
from .finetune import finetune, mean_std
from .model.backbone import Backbone
from .model.loading import load_backbone
from .report import git_commit, machine, write_json_atomic
from .task import Task, get_task


@dataclass
class SeedResult:
    seed: int
    test_metric: float
    test_loss: float
    dev_metric: float
    best_step: int
    steps: int
    stopped_early: bool
    train_seconds: float
    eval_seconds: float


@dataclass
class TaskReport:
    task: str
    metric: str
    shots: int
    backbone: str
    adapt: str
    method: str
    seeds: list[SeedResult] = field(default_factory=list)

    @property
    def mean_std(self) -> tuple[float, float]:
        return mean_std([s.test_metric for s in self.seeds])

    @property
    def seconds_per_run(self) -> float:
        return sum(s.train_seconds + s.eval_seconds for s in self.seeds) / max(len(self.seeds), 1)

    def to_json(self) -> dict:
        mean, std = self.mean_std if self.seeds else (float("nan"), float("nan"))
        return {**{k: v for k, v in asdict(self).items() if k != "seeds"},
                "seeds": [asdict(s) for s in self.seeds],
                "summary": {"mean": mean, "std": std, "n_seeds": len(self.seeds), "std_ddof": 0,
                            "seconds_per_run": self.seconds_per_run}}


def check_splits(task: Task, cfg: RunConfig):
    """Read the train split and draw every seed's split up front: bad K fails before any model loads."""
    train = task.load_split("train", cfg.data.dir)
    splits = [few_shot_split(task.name, train.labels, cfg.shots, seed, task.label_names or ("low", "high")) for seed in cfg.seeds]
    return train, splits


def run_finetune(cfg: RunConfig, backbone: Backbone | None = None, *, out_payload: dict | None = None) -> TaskReport:
    """Fine-tune on every seed's K-shot split of `cfg.task`, early-stopped on its dev split, and
    score the whole test set. Results are written to `cfg.out` after every seed."""
    task = get_task(cfg.task)
    train, splits = check_splits(task, cfg)
    test = task.load_split("test", cfg.data.dir)
    if backbone is None:
        backbone = load_backbone(cfg.model, cfg.data.max_length)
    init = backbone.snapshot(include_head=False)
    train_pool = backbone.pool(task, "train", train)
    test_pool = backbone.pool(task, "test", test)
    report = TaskReport(task.name, task.metric, cfg.shots, backbone.backbone_name, cfg.model.adapt, "finetune")
    bar = tqdm(total=len(splits) * cfg.train.max_steps, desc=f"{task.name} K={cfg.shots}", unit="step",
               disable=not cfg.progress, file=sys.stderr, leave=False)
    for split in splits:
        generator = torch.Generator().manual_seed(split.seed)
        backbone.restore(init)
        support = train_pool.batch(split.train)
        backbone.set_head(task, init=cfg.model.head_init, support=support, generator=generator)
        fit = finetune(backbone, task.metric, train_pool, split, cfg.train, cfg.eval, generator, progress=bar)
        bar.update(cfg.train.max_steps - fit.steps)
        t0 = time.perf_counter()
        test_metric, test_loss = score(backbone, task.metric, test_pool, None, cfg.eval.batch_size)
        report.seeds.append(SeedResult(split.seed, test_metric, test_loss, fit.dev_metric, fit.best_step, fit.steps,
                                       fit.stopped_early, fit.seconds, time.perf_counter() - t0))
        bar.set_postfix(seed=split.seed, test=f"{test_metric:.3f}")
        if cfg.out is not None:
            write_json_atomic(cfg.out, {**(out_payload or run_metadata(cfg)), "results": [report.to_json()]})
    bar.close()
    return report


def run_metadata(cfg: RunConfig, command: str | None = None) -> dict:
    return {"library_version": __version__, "commit": git_commit(), "command": command or " ".join(sys.argv),
            "machine": machine(), "config": cfg.model_dump(mode="json")}
