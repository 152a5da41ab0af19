"""The backbone interface every model implements, and the sentence-encoder backbone.

A backbone is a frozen pretrained body plus a task head. Its *adaptable parameters* (head
only, LoRA + head, or everything) are exposed as a named dict, so a functional forward
(`torch.func.functional_call`) can run on any values of them; its *groups* (one adapted module
each: the LoRA pair of one projection in one layer, or the head) come from the model's
structure, never from names hard-coded elsewhere.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.io import Split
from ..data.pools import Batch, TokenizedPool
from ..errors import ModelError

ADAPT_MODES = ("head", "lora", "full")


@contextmanager
def eval_mode(module: nn.Module):
    """`module` in eval mode (no dropout), then every submodule back in its own mode.

    Restoring with `module.train(was_training)` would not do: it sets every submodule, and a
    loaded encoder's body (eval mode from `from_pretrained`) would come back in train mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode


@dataclass(frozen=True)
class ParamGroup:
    """One adapted module: its parameter names, relative depth in [0, 1] and kind."""

    name: str
    params: tuple[str, ...]
    depth: float
    kind: str


class Backbone(nn.Module):
    """Base class: tokenise-once pools, adaptable parameters, groups, snapshot/restore."""

    #: regex capturing the layer index in a parameter name
    layer_pattern = re.compile(r"\.(?:layer|layers|h|block)\.(\d+)\.")
    num_layers: int = 1

    def __init__(self, tokenizer, *, max_length: int, name: str) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.backbone_name = name
        self._pools: dict[tuple, TokenizedPool] = {}
        self.tokenize_calls = 0  # how often text was tokenised (tests pin tokenise-once)

    # ------------------------------------------------------------ to override
    def tokenize(self, texts: Iterable[str], pairs: Iterable[str] | None, task) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, **inputs) -> torch.Tensor:
        raise NotImplementedError

    def features(self, **inputs) -> torch.Tensor:
        """Per-example features the head reads (used for prototype initialisation)."""
        raise NotImplementedError

    def head_tensors(self, task, *, init: str = "random", support: Batch | None = None,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of a fresh head for `task`, on the model's device, without installing it."""
        raise NotImplementedError

    def set_head(self, task, *, init: str | None = None, support: Batch | None = None, generator: torch.Generator | None = None) -> None:
        """Install a fresh head for `task` (see `head_tensors`; `init=None`: the backbone's default)."""
        kw = {} if init is None else {"init": init}
        weight, bias = self.head_tensors(task, support=support, generator=generator, **kw)
        self.head = nn.Linear(weight.shape[1], weight.shape[0]).to(device=weight.device, dtype=weight.dtype).train(self.training)
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)

    # ------------------------------------------------------------ shared
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def pool(self, task, split_name: str, split: Split) -> TokenizedPool:
        """The tokenised pool of a split, built on first use and cached on the model's device."""
        key = (task.name, split_name, split.origin, len(split), str(self.device), self.max_length)
        pool = self._pools.get(key)
        if pool is None:
            self.tokenize_calls += 1
            encoded = self.tokenize(split.texts, split.pairs, task)
            pool = TokenizedPool(encoded, split.labels, self.device)
            self._pools[key] = pool
        return pool

    def release_pools(self) -> None:
        """Drop every cached tokenised split (the data a model was trained on is not part of it)."""
        self._pools.clear()

    def adaptable_parameters(self) -> dict[str, nn.Parameter]:
        """The parameters adaptation may change, by name (those with requires_grad)."""
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    def functional_forward(self, params: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        """Logits with the adaptable parameters replaced by `params` (others stay as they are)."""
        return torch.func.functional_call(self, params, args=(), kwargs=batch.inputs, strict=False)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if labels.dtype.is_floating_point:
            return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
        return F.cross_entropy(logits, labels)

    def snapshot(self, include_head: bool = True) -> dict[str, torch.Tensor]:
        """A detached copy of the adaptable parameters (adapter initialisation, best checkpoint)."""
        return {n: p.detach().clone() for n, p in self.adaptable_parameters().items() if include_head or not n.startswith("head.")}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        """Copy `state` into the adaptable parameters in place (no reallocation).

        The head may be left out of `state` (an adapter initialisation shared across tasks whose
        heads differ); every other adaptable parameter must be in it.
        """
        params = self.adaptable_parameters()
        missing = {n for n in params if n not in state and not n.startswith("head.")}
        if missing:
            raise ModelError(f"cannot restore: the snapshot lacks {sorted(missing)[:3]}")
        with torch.no_grad():
            for n, p in params.items():
                if n in state:
                    p.copy_(state[n])

    def groups(self) -> list[ParamGroup]:
        """Adaptable parameters grouped by adapted module (LoRA A/B of one projection together)."""
        by_module: dict[str, list[str]] = {}
        for n in self.adaptable_parameters():
            module = n.rsplit(".", 1)[0]
            module = re.sub(r"\.lora_(?:A|B|embedding_A|embedding_B)(?:\.[^.]+)?$", "", module)
            by_module.setdefault(module, []).append(n)
        groups = []
        for module, names in by_module.items():
            if module.startswith("head"):
                depth, kind = 1.0, "head"
            else:
                m = self.layer_pattern.search("." + module + ".")
                depth = (int(m.group(1)) + 1) / (self.num_layers + 1) if m else 0.0
                kind = module.rsplit(".", 1)[-1]
                if any(".lora_" in n for n in names):
                    kind = "lora_" + kind
            groups.append(ParamGroup(module, tuple(names), depth, kind))
        return groups


def select_adaptable(body: nn.Module, adapt: str, lora_cfg, default_targets: list[str]) -> nn.Module:
    """Freeze `body` and make the chosen part adaptable; returns the body (LoRA injected in place)."""
    if adapt not in ADAPT_MODES:
        raise ModelError(f"unknown adapt mode {adapt!r}; use one of {ADAPT_MODES}")
    for p in body.parameters():
        p.requires_grad_(adapt == "full")
    if adapt == "lora":
        from peft import LoraConfig as PeftLoraConfig
        from peft import inject_adapter_in_model

        targets = list(lora_cfg.targets or default_targets)
        config = PeftLoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout, target_modules=targets, bias="none")
        try:
            body = inject_adapter_in_model(config, body)
        except ValueError as e:
            raise ModelError(f"LoRA targets {targets} do not fit this model ({e}); set model.lora.targets") from None
        for n, p in body.named_parameters():
            p.requires_grad_(".lora_" in n)
    return body


class EncoderBackbone(Backbone):
    """A sentence encoder (BERT-like) with mean pooling and a linear classification head."""

    def __init__(self, body: nn.Module, tokenizer, *, max_length: int, name: str, adapt: str, lora_cfg, normalize: bool = True, head_scale: float = 10.0) -> None:
        super().__init__(tokenizer, max_length=max_length, name=name)
        self.num_layers = getattr(body.config, "num_hidden_layers", 1)
        self.body = select_adaptable(body, adapt, lora_cfg, default_targets=["query", "value"])
        self.hidden_size = body.config.hidden_size
        self.normalize = normalize
        self.head_scale = head_scale
        self.head = nn.Linear(self.hidden_size, 2)
        self.to(next(body.parameters()).dtype)

    def tokenize(self, texts, pairs, task) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            list(texts), list(pairs) if pairs is not None else None,
            padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt",
        )
        keep = ("input_ids", "attention_mask", "token_type_ids")
        return {k: v for k, v in encoded.items() if k in keep}

    def features(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        out = self.body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = out.last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.head(self.features(input_ids, attention_mask, token_type_ids))

    def head_tensors(self, task, *, init: str = "random", support: Batch | None = None, generator: torch.Generator | None = None):
        """A head for `task`: random, or class prototypes of the support set."""
        out_dim = 1 if task.is_regression else task.num_classes
        dtype, device = self.head.weight.dtype, self.head.weight.device
        weight = torch.empty(out_dim, self.hidden_size, dtype=dtype)
        bound = 1.0 / self.hidden_size**0.5
        weight.uniform_(-bound, bound, generator=generator)
        bias = torch.zeros(out_dim, dtype=dtype)
        if init == "prototype" and not task.is_regression:
            if support is None:
                raise ModelError("prototype head initialisation needs the support batch")
            with torch.no_grad(), eval_mode(self):
                feats = self.features(**support.inputs).to("cpu", dtype)
            labels = support.labels.cpu()
            for c in range(out_dim):
                rows = feats[labels == c]
                if len(rows):
                    weight[c] = F.normalize(rows.mean(0), dim=0) * self.head_scale
        elif init not in ("random", "prototype"):
            raise ModelError(f"unknown head init {init!r}; use 'random' or 'prototype'")
        return weight.to(device), bias.to(device)
