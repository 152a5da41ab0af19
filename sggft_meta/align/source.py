"""Source directions: d = grad_phi L_s(phi; S_s), the source task's loss gradient with its own head.

The source task's head differs from the target's (other classes), so it is built once from the
source support set (class prototypes or verbalizer rows at phi_0) and held fixed; the head
group of the target has no source direction (`mask`).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..data.pools import Batch
from ..flat import FlatLayout


class SourceDirection:
    """The gradient of a source task's loss on its support batch, at any phi."""

    def __init__(self, backbone, batch: Batch, head: dict[str, torch.Tensor], task_name: str = "") -> None:
        self.backbone, self.batch, self.head, self.task_name = backbone, batch, head, task_name

    @classmethod
    def from_support(cls, backbone, task, batch: Batch, *, init: str = "prototype",
                     generator: torch.Generator | None = None) -> "SourceDirection":
        """Build the source head on `batch` from the backbone's current adapter (phi_0)."""
        weight, bias = backbone.head_tensors(task, init=init, support=batch, generator=generator)
        return cls(backbone, batch, {"head.weight": weight, "head.bias": bias}, task.name)

    @classmethod
    def for_task(cls, backbone, task, cfg, seed: int = 0) -> "SourceDirection":
        """A K-shot support set of `task`'s train split (K = cfg.shots, capped by its classes)."""
        from ..data.samplers import few_shot_split

        train = task.load_split("train", cfg.data.dir)
        smallest = min(int((train.labels == c).sum()) for c in set(train.labels.tolist()))
        split = few_shot_split(task.name, train.labels, min(cfg.shots, smallest // 2), seed, task.label_names or None)
        pool = backbone.pool(task, "train", train)
        return cls.from_support(backbone, task, pool.batch(split.train), init=cfg.model.head_init,
                                generator=torch.Generator().manual_seed(seed))

    def mask(self, layout: FlatLayout) -> torch.Tensor:
        """[G]: 1 for groups with a source direction (every group but the head)."""
        return layout.mask([k for k, g in enumerate(layout.groups) if g.kind != "head"])

    def bind(self, loop) -> Callable[[torch.Tensor], torch.Tensor]:
        """phi -> d (flat, detached; zero on the head) for the inner loop `loop`."""

        def direction(phi: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                _, d = loop.gradient(phi.detach(), self.batch, head=self.head)
            return d.detach()

        return direction
