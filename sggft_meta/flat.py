"""Adaptable parameters as one flat vector, with the backbone's group structure.

The inner loop works on a single flat tensor `phi` (and flat gradients, optimizer moments and
references of the same layout): every per-group statistic (dot product, norm, cosine) is one
`index_add` over a group index, so a step costs a handful of kernels whatever the number of
groups, and nothing is synchronised with the host. `FlatLayout.to_dict(phi)` gives views of
the flat vector under the parameter names, shaped and cast for `torch.func.functional_call`.

Groups come from `Backbone.groups()` (one adapted module each: the LoRA pair of one projection
in one layer, or the head), never from names written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model.backbone import ParamGroup

#: canonical module kinds: the aligner sees these, so `query` (BERT) and `q_proj` (Llama) match
MODULE_KINDS = ("head", "attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out", "embedding", "other")
_KIND_WORDS = (
    ("attn_q", ("query", "q_proj", "q_lin", "c_attn")),
    ("attn_k", ("key", "k_proj", "k_lin")),
    ("attn_v", ("value", "v_proj", "v_lin")),
    ("attn_out", ("attention.output", "o_proj", "out_proj", "out_lin", "c_proj.attn")),
    ("mlp_in", ("intermediate", "gate_proj", "up_proj", "fc1", "lin1", "c_fc")),
    ("mlp_out", ("output.dense", "down_proj", "fc2", "lin2", "c_proj")),
    ("embedding", ("embed", "wte", "wpe")),
)
# Smallest squared norm added under square roots: keeps norms and cosines differentiable at 0.
TINY = 1e-30


def canonical_kind(group: ParamGroup) -> str:
    """The group's module kind in `MODULE_KINDS`, read from its module name."""
    if group.kind == "head":
        return "head"
    name = group.name.lower()
    for kind, words in _KIND_WORDS:
        if any(w in name for w in words):
            return kind
    return "other"


@dataclass(frozen=True)
class FlatLayout:
    """Where each adaptable parameter lives in the flat vector, and which group it belongs to."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    sizes: tuple[int, ...]
    groups: tuple[ParamGroup, ...]
    group_index: torch.Tensor  # [P] long: group of every flat element
    group_sizes: torch.Tensor  # [G]
    weights: torch.Tensor  # [G] w_k = group size / total size
    kinds: tuple[str, ...]  # canonical kind per group
    model_dtype: torch.dtype
    dtype: torch.dtype  # of the flat vectors (float32 master copy for a bf16 model)

    @classmethod
    def from_backbone(cls, backbone) -> "FlatLayout":
        params = backbone.adaptable_parameters()
        first = next(iter(params.values()))
        return cls.from_groups({n: p.shape for n, p in params.items()}, list(backbone.groups()), first.dtype, first.device)

    @classmethod
    def from_groups(cls, shapes: dict[str, torch.Size], groups: list[ParamGroup], model_dtype: torch.dtype,
                    device: torch.device | str = "cpu") -> "FlatLayout":
        """The layout of parameters `shapes` (name -> shape) split into `groups` (which must cover
        every name exactly once); flat vectors are float32, or float64 for a float64 model."""
        order = [n for g in groups for n in g.params]
        if sorted(order) != sorted(shapes):
            raise ValueError("the groups do not cover the adaptable parameters exactly once")
        dtype = torch.float64 if model_dtype == torch.float64 else torch.float32
        sizes = tuple(int(torch.Size(shapes[n]).numel()) for n in order)
        group_of = {n: k for k, g in enumerate(groups) for n in g.params}
        index = torch.cat([torch.full((s,), group_of[n], dtype=torch.long) for n, s in zip(order, sizes)]).to(device)
        per_group = [sum(int(torch.Size(shapes[n]).numel()) for n in g.params) for g in groups]
        gsizes = torch.tensor(per_group, dtype=dtype, device=device)
        return cls(tuple(order), tuple(torch.Size(shapes[n]) for n in order), sizes, tuple(groups), index, gsizes,
                   gsizes / gsizes.sum(), tuple(canonical_kind(g) for g in groups), model_dtype, dtype)

    # ------------------------------------------------------------ conversions
    @property
    def num_groups(self) -> int:
        return len(self.groups)

    @property
    def numel(self) -> int:
        return sum(self.sizes)

    def flatten(self, named: dict[str, torch.Tensor]) -> torch.Tensor:
        """One flat tensor (in the flat dtype) from named tensors."""
        return torch.cat([named[n].reshape(-1).to(self.dtype) for n in self.names])

    def to_dict(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of `flat` under the parameter names, shaped and cast to the model's dtype."""
        parts = flat.split(self.sizes)
        return {n: p.view(s).to(self.model_dtype) for n, p, s in zip(self.names, parts, self.shapes)}

    def mask(self, group_ids: list[int]) -> torch.Tensor:
        """[G] 0/1 mask of the given groups."""
        m = torch.zeros(self.num_groups, dtype=self.dtype, device=self.group_index.device)
        m[group_ids] = 1
        return m

    def head_groups(self) -> list[int]:
        return [k for k, g in enumerate(self.groups) if g.kind == "head"]

    # ------------------------------------------------------------ group statistics
    def group_sum(self, x: torch.Tensor) -> torch.Tensor:
        """[G] sums of `x` [P] within each group (differentiable to any order)."""
        out = torch.zeros(self.num_groups, dtype=x.dtype, device=x.device)
        return out.index_add(0, self.group_index, x)

    def group_dot(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.group_sum(x * y)

    def group_norm(self, x: torch.Tensor) -> torch.Tensor:
        return (self.group_sum(x * x) + TINY).sqrt()

    def group_cos(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.group_dot(x, y) / (self.group_norm(x) * self.group_norm(y))

    def expand(self, per_group: torch.Tensor) -> torch.Tensor:
        """[P] from [G]: each element gets its group's value."""
        return per_group.index_select(0, self.group_index)

    def group_unit(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with every group scaled to unit norm (zero groups stay zero)."""
        return x / self.expand(self.group_norm(x))


def cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine of two flat vectors (0-dim tensor; no host sync)."""
    return (x * y).sum() / ((x * x).sum() + TINY).sqrt() / ((y * y).sum() + TINY).sqrt()
