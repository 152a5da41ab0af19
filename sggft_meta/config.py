"""Configuration: pydantic models (unknown fields are errors), YAML files, `key=value` overrides.

Every option has a default documented here and in docs/configuration.md. A bad value raises
`ConfigError` naming the field path, e.g. `train.lr: Input should be a valid number`; no float
field takes inf or nan.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

LM_BFF_SEEDS = [13, 21, 42, 87, 100]
#: data seeds are integers in [0, 2**32): numpy's and torch's generators take every one of them
SEED_LIMIT = 2**32


class _Strict(BaseModel):
    # Numbers given where a string is expected (a task folder named 2024) are taken as strings;
    # inf and nan are refused in every float field (a learning rate of inf trains nothing).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True, allow_inf_nan=False)


class DataConfig(_Strict):
    dir: Path | None = Field(None, description="Folder with one sub-folder per task; else $SGGFT_DATA_DIR; else the hub.")
    max_length: int = Field(128, ge=8, le=4096, description="Tokens per input (pairs together); longer inputs are truncated.")


class LoraSettings(_Strict):
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    targets: list[str] | None = Field(None, description="Module names to adapt; None = the backbone's default (query/value or q_proj/v_proj).")


class ModelConfig(_Strict):
    name: str = Field("minilm", description="'minilm' (packaged all-MiniLM-L6-v2), 'smollm2' (packaged SmolLM2-135M GGUF), a HF hub id or a local path.")
    adapt: Literal["head", "lora", "full"] = Field("lora", description="What adapts: the head only, LoRA + head, or every weight.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    head_init: Literal["prototype", "random"] = Field("prototype", description="Head start: class means of the support set, or random.")
    head_scale: float = Field(10.0, gt=0, description="Norm of each prototype row (logit temperature of the encoder head).")
    normalize: bool = Field(True, description="L2-normalise pooled sentence embeddings (as sentence-transformers does).")
    device: str = Field("auto", description="'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1' ...")
    dtype: Literal["float32", "bfloat16", "float64"] = Field("float32", description="Weights and compute dtype.")
    init_seed: int = Field(0, description="Seed of the adapter initialisation (LoRA A); the same for every episode.")
    cache_dir: Path | None = Field(None, description="Where converted models are cached; default ~/.cache/sggft_meta.")


class TrainConfig(_Strict):
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="Optimizer of the adaptable parameters (functional; equal to torch.optim's).")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum (ignored by AdamW).")
    lr: float = Field(1e-3, gt=0, description="Learning rate of LoRA / body parameters.")
    head_lr: float = Field(1e-2, gt=0, description="Learning rate of the head.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay (SGD: L2 penalty).")
    batch_size: int = Field(8, ge=1, description="Support minibatch size.")
    max_steps: int = Field(150, ge=1, description="T: inner (optimizer) steps per run at most.")
    eval_every: int = Field(10, ge=1, description="Steps between dev evaluations.")
    patience: int = Field(5, ge=1, description="Dev evaluations without improvement before stopping early.")
    grad_clip: float | None = Field(1.0, gt=0, description="Clip the global gradient norm; None = no clipping.")
    multitask: Literal["sum", "pcgrad", "gradvac"] | None = Field(None, description="Train on the source task too (needs source_task): add its gradient, or combine the two by PCGrad or GradVac. The source direction is refreshed every sggft.refresh_every steps.")
    multitask_beta: float = Field(0.01, gt=0, le=1, description="GradVac: EMA rate of the per-group target similarity.")


class SggftConfig(_Strict):
    """The SGGFT inner loop (METHOD.md): regularizer weights, references, update mode."""

    mode: Literal["exact", "hvp", "surgery"] = Field("hvp", description="How the regularized update is formed: double backprop, a finite-difference Hessian-vector product, or first-order surgery.")
    lambda_dir: float = Field(0.1, ge=0, description="Weight of direction consistency, R_dir.")
    lambda_mag: float = Field(0.1, ge=0, description="Weight of magnitude control, R_mag.")
    lambda_align: float = Field(0.0, ge=0, description="Weight of source->target alignment, R_align: with method=sggft, a weight > 0 needs a source task (source_task) and/or an aligner (aligner).")
    beta_dir: float = Field(0.9, ge=0, lt=1, description="EMA decay of the direction reference r (past update directions).")
    beta_mag: float = Field(0.9, ge=0, lt=1, description="EMA decay of the per-group gradient norm behind tau.")
    kappa: float = Field(2.0, gt=0, description="tau_k = kappa * EMA(||g^k||): norms above it are penalised (surgery: capped).")
    refresh_every: int = Field(10, ge=1, description="R: steps between recomputations of the source direction d.")
    hvp_rule: Literal["forward", "central"] = Field("forward", description="hvp mode: forward difference (2 gradients per step) or central (3).")
    fd_scale: float | None = Field(None, gt=0, description="Finite-difference step scale (times (1 + ||phi||) / ||v||); None = eps**0.4 (forward) or eps**(1/3) (central) of the dtype.")


class AlignerSettings(_Strict):
    """Which aligner meta-training builds (the `learned` network's shape), or `adapt` uses."""

    type: Literal["learned", "gradvac", "none"] = Field("learned", description="Aligner type: the learned network, the GradVac-style moving target, or none.")
    hidden: int = Field(32, ge=1, description="learned: hidden width of the per-group MLP.")
    init_gate: float = Field(0.0, ge=0, lt=1, description="learned: initial gate a_k. 0: closed (every gate exactly 0 until meta-training opens it through a learned opening, so an untrained aligner changes nothing); in (0, 1): open from the start at this gate (0.5 was the default before the closed start, and reproduces aligners trained with it).")
    init_rho: float = Field(0.5, gt=-1, lt=1, description="learned: initial target similarity rho_k (above the usual cos(g, d), so the alignment term starts active and the network receives gradient).")
    beta: float = Field(0.01, gt=0, le=1, description="gradvac: EMA rate of the target similarity.")
    seed: int = Field(0, description="learned: initialisation seed.")


class EpisodeSettings(_Strict):
    n_way: int | None = Field(None, ge=2, description="Classes per source episode; None = all of the task's classes.")
    k_shot: int = Field(8, ge=1, description="Support examples per class.")
    q_query: int = Field(8, ge=1, description="Query examples per class (the meta-loss).")


class MetaConfig(_Strict):
    """Meta-learning the alignment network over source pairs (METHOD.md, "The outer loop")."""

    sources: list[str] = Field(default_factory=list, description="Source task names (two or more); pairs (s, t) of distinct tasks are drawn from them.")
    across_domains: bool = Field(True, description="Draw s from another domain than t whenever the sources span two or more domains.")
    aligner: AlignerSettings = Field(default_factory=AlignerSettings)
    outer_steps: int = Field(100, ge=1, description="Outer (meta) steps.")
    meta_batch: int = Field(4, ge=1, description="Pairs per outer step (split across ranks under torchrun).")
    meta_lr: float = Field(1e-3, gt=0, description="Adam learning rate of the aligner.")
    meta_grad: Literal["truncated", "unrolled"] = Field("truncated", description="Differentiate through the last k inner steps, or all of them.")
    truncate_k: int = Field(1, ge=1, description="k of the truncated meta-gradient.")
    adjoint: Literal["auto", "fd", "autograd"] = Field("auto", description="How adjoints pass through the model in the meta-gradient: finite differences of gradients (no second-order graph; plain and surgery steps only) or recomputed autograd graphs; auto = fd where it applies.")
    inner_steps: int = Field(5, ge=1, description="T: inner steps per episode (full support batch each step).")
    episode: EpisodeSettings = Field(default_factory=EpisodeSettings)
    reptile: bool = Field(False, description="Also meta-learn the adapter initialisation phi_0, Reptile-style.")
    reptile_lr: float = Field(0.5, gt=0, le=1, description="Reptile step: phi_0 += lr * mean(phi_T - phi_0).")
    checkpoint_every: int = Field(10, ge=1, description="Outer steps between resumable checkpoints (and aligner saves).")
    seed: int = Field(0, description="Seed of pair and episode sampling.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Clip the aligner's meta-gradient norm; None = no clipping.")


class EvalConfig(_Strict):
    batch_size: int = Field(64, ge=1, description="Batch size for dev and test evaluation.")


class RunConfig(_Strict):
    task: str = Field("sst2", description="A registered task name or a path to a task folder.")
    method: Literal["finetune", "sggft"] = Field("finetune", description="Plain fine-tuning, or the SGGFT inner loop (section `sggft`).")
    shots: int = Field(16, ge=1, description="K: training examples per class (and K more per class for dev).")
    seeds: list[int] = Field(default_factory=lambda: list(LM_BFF_SEEDS), min_length=1, description="Data seeds: distinct integers from 0 to 2**32 - 1 (LM-BFF: 13, 21, 42, 87, 100).")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sggft: SggftConfig = Field(default_factory=SggftConfig)
    aligner: Path | None = Field(None, description="A trained aligner directory (meta-train's --out), or 'gradvac' / 'none' (rules that need no training), to guide adaptation toward source_task.")
    source_task: str | list[str] | None = Field(None, description="Source task(s) whose gradient direction d guides adaptation (a name, or a list: d is their weighted sum, see `source`); default: the aligner's first training source.")
    source: "SourceSettings" = Field(default_factory=lambda: SourceSettings(), description="How source tasks are drawn from (their whole training pools).")
    meta: MetaConfig = Field(default_factory=MetaConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    out: Path | None = Field(None, description="JSON file for per-seed results.")
    progress: bool = Field(True, description="Show progress bars on stderr.")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        bad = [s for s in seeds if not 0 <= s < SEED_LIMIT]
        if bad:
            raise ValueError(f"seed {bad[0]} is out of range; seeds are integers from 0 to 2**32 - 1 (e.g. 13,21,42)")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


def check_alignment_inputs(cfg: RunConfig, *, aligner=None, source_task: str | None = None) -> None:
    """Refuse an alignment weight that would have no effect: with `method=sggft` and
    `sggft.lambda_align` > 0, the run needs a source task (`source_task`) and/or an aligner
    (`aligner`, whose first training source is the default source task). `aligner` and
    `source_task` are what a caller passes besides `cfg` (a loaded aligner, a source task name).

    Call it where an adaptation run starts, before any model loads. Meta-training (which
    learns the alignment on `meta.sources`) does not go through it."""
    if cfg.method != "sggft" or cfg.sggft.lambda_align <= 0:
        return
    if aligner is not None or cfg.aligner is not None or source_task is not None or cfg.source_task is not None:
        return
    raise ConfigError(
        f"sggft.lambda_align={cfg.sggft.lambda_align:g} needs a source task and an aligner: set --aligner DIR "
        "and/or source_task=NAME, or set sggft.lambda_align=0"
    )


def format_validation_error(err: ValidationError, reference: str = "docs/configuration.md") -> str:
    """`path: message (got value)` for every error; unknown fields point at `reference`."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field (check the spelling; see {reference})"
        got = e.get("input")
        show = e["type"] not in ("extra_forbidden", "missing") and not isinstance(got, (dict, BaseModel))
        lines.append(f"{path}: {msg}" + (f" (got {got!r})" if show else ""))
    return "; ".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """`train.lr=5e-4` -> (['train', 'lr'], 0.0005); values are read as YAML scalars/lists."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. train.lr=5e-4)")
    key, raw = item.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def set_path(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, base: dict | None = None, model: type[BaseModel] = RunConfig):
    """Build a config from `base` (dict), then a YAML file, then `key=value` overrides."""
    tree: dict = copy.deepcopy(base or {})
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p}: not valid YAML ({e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p}: the top level must be a mapping of fields")
        _merge(tree, loaded)
    for item in overrides or []:
        key, value = parse_override(item)
        set_path(tree, key, value)
    try:
        return model.model_validate(tree)
    except ValidationError as e:
        raise ConfigError("invalid configuration: " + format_validation_error(e)) from None


def _merge(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def dump_config(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


#: The inner loop of a meta-training, where the caller sets nothing else: SGGFT, first-order
#: `surgery` steps (a truncated meta-gradient then stays first order) and the alignment term on,
#: since that term is what meta-training learns. Used by `sggft-meta meta-train` and `meta_train`.
META_TRAIN_DEFAULTS = {"method": "sggft", "sggft": {"mode": "surgery", "lambda_align": 1.0}}


class DevSplitSettings(_Strict):
    """How `fit` holds out a development split of the user's data for early stopping."""

    enabled: bool = Field(True, description="Hold out a dev split for early stopping when every class has enough examples.")
    fraction: float = Field(0.25, gt=0, lt=1, description="Share of each class held out (rounded, at least 1 per class).")
    min_per_class: int = Field(4, ge=2, description="Hold out a dev split only when every class has at least this many examples; else train for train.max_steps steps with no early stopping.")
    max_size: int = Field(256, ge=2, description="Most dev rows in all (large data sets: the dev split is evaluated every train.eval_every steps).")


class FitConfig(RunConfig):
    """`fit`: a run config trained on all of the user's labelled data (no LM-BFF seeds), plus the
    dev split rule. `shots` sizes only the source task's support set (with `source_task`);
    `seeds` and `out` are not used."""

    dev: DevSplitSettings = Field(default_factory=DevSplitSettings)
    seed: int = Field(0, description="Seed of the dev split, the head's random start and the minibatch order.")
    head_rows: int = Field(64, ge=1, description="Examples per class the prototype head is initialised from (at most).")


#: keyword -> section class, for the keywords of `typed_config` whose value is a config section
_SECTIONS = {"train": TrainConfig, "sggft": SggftConfig, "meta": MetaConfig, "eval": EvalConfig, "data": DataConfig}
METHODS = ("finetune", "sggft")


def typed_config(kind: type[RunConfig] = RunConfig, config: RunConfig | dict | None = None, *,
                 method: str | SggftConfig | None = None, model: str | Path | ModelConfig | None = None,
                 data_dir: str | Path | None = None, **fields: Any) -> RunConfig:
    """A `kind` config (RunConfig, FitConfig) from a base `config` and typed keyword arguments, as
    the Python face takes them. Fields the caller leaves unset stay unset (an aligner's training
    settings can then fill them), and a keyword left at None keeps the base's value.

    `method`: "finetune", "sggft", or an `SggftConfig` (SGGFT with those settings). `model`: a
    backbone name or path, or a `ModelConfig`. `train`, `sggft`, `meta`, `eval`, `data`: their
    config objects (or dicts of fields). `aligner`: also sets method="sggft" unless a method is
    given. Any other keyword is a top-level field of `kind` (task, shots, seeds, source_task, ...)."""
    if config is None:
        tree: dict = {}
    elif isinstance(config, BaseModel):
        tree = config.model_dump(exclude_unset=True)
    elif isinstance(config, dict):
        tree = copy.deepcopy(config)
    else:
        raise ConfigError(f"config must be a {kind.__name__} or a dict of its fields, got {type(config).__name__}")
    if isinstance(method, SggftConfig):
        fields["sggft"], method = method, "sggft"
    if method is not None:
        if method not in METHODS:
            raise ConfigError(f"method={method!r}: use one of {METHODS}, or an SggftConfig")
        tree["method"] = method
    if model is not None:
        if isinstance(model, (str, Path)):
            model = ModelConfig(name=str(model))
        fields["model"] = model
    for key, value in fields.items():
        if value is None:
            continue
        if key not in kind.model_fields:
            near = difflib.get_close_matches(key, list(kind.model_fields), n=1)
            raise ConfigError(f"{key}= is not a setting of {kind.__name__}" + (f"; did you mean {near[0]}=?" if near else ""))
        section = {**_SECTIONS, "model": ModelConfig}.get(key)
        if section is not None:
            if isinstance(value, BaseModel) and not isinstance(value, section):
                raise ConfigError(f"{key}= takes a {section.__name__} (or a dict of its fields), got {type(value).__name__}")
            given = value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else dict(value)
            tree[key] = {**tree.get(key, {}), **given}
        else:
            tree[key] = value
    if fields.get("aligner") is not None:
        tree.setdefault("method", "sggft")  # an aligner guides the SGGFT inner loop
    if data_dir is not None:
        tree["data"] = {**tree.get("data", {}), "dir": data_dir}
    try:
        return kind.model_validate(tree)
    except ValidationError as e:
        raise ConfigError("invalid configuration: " + format_validation_error(e)) from None


class SourceSettings(_Strict):
    """How the source tasks of a run (`source_task`) are used (METHOD.md, "Sources")."""

    weights: list[float] | None = Field(None, description="One weight per source task (d = sum of w_s d_s per parameter group); None = equal weights summing to 1.")
    batch_size: int = Field(32, ge=1, description="Rows of each source's training pool drawn afresh at every refresh of the source direction.")
    head_rows: int = Field(64, ge=1, description="Training examples per class (at most) the source head's class prototypes are built from, at the starting adapter.")


RunConfig.model_rebuild()
FitConfig.model_rebuild()
