"""The benchmark grid: a YAML file of methods x tasks x K x seeds, validated by pydantic.

    name: example
    tasks: [sst2, rte]                  # registered task names or task folders
    shots: [8, 16]
    seeds: [13, 21, 42, 87, 100]        # default: the five LM-BFF seeds
    base: [model.name=minilm]           # key=value RunConfig overrides for every method
    focus: sggft                        # default method of the paired comparison (optional)
    against: [lora]                     # compared with the best of these (optional; default every other)
    methods:
      finetune_lora: {kind: run, overrides: [method=finetune, model.adapt=lora]}
      setfit: {kind: setfit, options: {num_iterations: 20}}

Unknown fields are errors; every error is one line naming the field path (as
`sggft_meta.config` does), e.g. `grid g.yaml: methods.sggft.kind: unknown bench method kind ...`.
The layout and the record schema are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sggft_meta.config import LM_BFF_SEEDS, format_validation_error, parse_override
from sggft_meta.errors import ConfigError, MissingPackageError, SggftError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: RunConfig fields every cell sets itself; a method may not override them
CELL_FIELDS = ("task", "shots", "seeds", "out", "progress")


def _as_overrides(value: Any) -> Any:
    """`[key=value, ...]` as is; a mapping `{key: value}` becomes `["key=<value as JSON>", ...]`."""
    if isinstance(value, dict):
        return [f"{k}={json.dumps(v)}" for k, v in value.items()]
    return value


def _check_overrides(items: list[str]) -> list[str]:
    for item in items:
        key, _ = parse_override(item)  # ConfigError (a ValueError) when not key=value
        if key[0] in CELL_FIELDS:
            raise ValueError(f"{'.'.join(key)} is set by the grid for every cell (tasks, shots, seeds); remove {item!r}")
    return items


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class MethodSpec(_Strict):
    """One method of the grid: a registered kind plus its settings."""

    kind: str = Field(..., description="A kind registered in sggft_bench.methods.BENCH_METHODS (run, setfit, ...).")
    overrides: list[str] = Field(default_factory=list, description="RunConfig overrides `key=value` (after the grid's `base`), or a mapping key: value.")
    options: dict[str, Any] = Field(default_factory=dict, description="Kind-specific options (setfit: body and setfit.TrainingArguments fields).")
    description: str = Field("", description="Free text, shown in the results.")

    @field_validator("overrides", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _as_overrides(value)

    @field_validator("overrides")
    @classmethod
    def _key_value(cls, items: list[str]) -> list[str]:
        return _check_overrides(items)


class Grid(_Strict):
    name: str = Field("bench", description="Name shown in the results.")
    tasks: list[str] = Field(..., min_length=1, description="Registered task names or task folders.")
    shots: list[Annotated[int, Field(ge=1)]] = Field(..., min_length=1, description="K values (examples per class).")
    seeds: list[int] = Field(default_factory=lambda: list(LM_BFF_SEEDS), min_length=1, description="Data seeds.")
    base: list[str] = Field(default_factory=list, description="RunConfig overrides applied to every method, before its own.")
    methods: dict[str, MethodSpec] = Field(..., min_length=1, description="Method name -> spec; the name names the cell folder.")
    data_dir: Path | None = Field(None, description="Data folder (else --data-dir, else $SGGFT_DATA_DIR).")
    focus: str | None = Field(None, description="Method compared against the best other one (aggregate --focus overrides).")
    against: list[str] | None = Field(None, min_length=1, description="The baselines the focus is compared against: the best of these by average (default: every other method; aggregate --against overrides). Leaves the focus's own ablations out of the comparison.")
    reuse: list[Path] = Field(default_factory=list, description="Output folders of earlier runs: a cell found there with the same definition (kind, overrides, options), task, K and seed is copied, not recomputed (paths relative to the working directory).")
    # method -> error message, for methods whose optional package is not installed here: the grid
    # loads (so the other methods run, and results aggregate), but running one of these refuses.
    _unavailable: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def unavailable(self) -> dict[str, str]:
        return self._unavailable

    @field_validator("base", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _as_overrides(value)

    @field_validator("base")
    @classmethod
    def _key_value(cls, items: list[str]) -> list[str]:
        return _check_overrides(items)

    @field_validator("tasks", "shots", "seeds")
    @classmethod
    def _distinct(cls, values: list) -> list:
        dup = sorted({str(v) for v in values if values.count(v) > 1})
        if dup:
            raise ValueError(f"values must be distinct; repeated: {', '.join(dup)}")
        return values

    @field_validator("methods")
    @classmethod
    def _names(cls, methods: dict) -> dict:
        bad = [m for m in methods if not SAFE_NAME.match(m)]
        if bad:
            raise ValueError(f"method names must be letters, digits, '_', '.', '-' (they name folders); bad: {', '.join(map(repr, bad))}")
        return methods

    @model_validator(mode="after")
    def _focus_known(self) -> "Grid":
        from .aggregate import against_problem, not_a_method

        if self.focus is not None and self.focus not in self.methods:
            raise ValueError(not_a_method("focus", self.focus, list(self.methods), "the grid"))
        if self.against is not None:
            if self.focus is None:
                raise ValueError("against needs a focus: the method compared against them")
            problem = against_problem(self.against, list(self.methods), self.focus, label="against:", where="the grid")
            if problem:
                raise ValueError(problem)
        return self


@dataclass(frozen=True)
class Cell:
    """One (method, task, K, seed) of the grid: what a bench method function receives.

    `overrides` are the grid's `base` followed by the method's own (`key=value` strings for
    RunConfig; `Context.run_config(cell)` builds the config from them); `options` are the
    method's kind-specific options. `task` is as written in the grid (a name or a folder),
    `task_name` the task's registered name (it names the cell's folder).
    """

    method: str
    kind: str
    task: str
    task_name: str
    shots: int
    seed: int
    overrides: tuple[str, ...] = ()
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        return f"{self.method}/{self.task_name}/k{self.shots}/seed{self.seed}"

    @property
    def relpath(self) -> Path:
        """Where the cell's record lives, relative to the output folder."""
        return Path("cells", self.method, safe_name(self.task_name), f"k{self.shots}", f"seed{self.seed}.json")

    @property
    def definition(self) -> dict:
        """What defines the method's computation (a finished cell is reused only when it is unchanged)."""
        return {"kind": self.kind, "overrides": list(self.overrides), "options": self.options}

    @property
    def definition_hash(self) -> str:
        text = json.dumps(self.definition, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def _format(err: ValidationError) -> str:
    return format_validation_error(err, "docs/benchmarks.md")


def parse_grid(tree: Any, where: str = "grid") -> Grid:
    """A validated `Grid` from a parsed YAML mapping, with kinds, tasks and run configs checked."""
    if not isinstance(tree, dict):
        raise ConfigError(f"{where}: the top level must be a mapping with tasks, shots, methods (see docs/benchmarks.md)")
    try:
        grid = Grid.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_format(e)}") from None
    check_grid(grid, where)
    return grid


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid YAML file; any problem raises one-line `ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"grid file {str(p)!r} does not exist")
    try:
        tree = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"grid {p}: not valid YAML ({' '.join(str(e).split())})") from None
    return parse_grid(tree, f"grid {p}")


def check_grid(grid: Grid, where: str = "grid") -> None:
    """Every method's kind is registered and accepts its settings; every task resolves."""
    from .methods import BENCH_METHODS

    for name, spec in grid.methods.items():
        try:
            fn = BENCH_METHODS.get(spec.kind)
        except SggftError as e:
            raise ConfigError(f"{where}: methods.{name}.kind: {e}") from None
        check = getattr(fn, "check", None)
        if check is not None:
            try:
                check(name, spec, grid)
            except MissingPackageError as e:
                grid.unavailable[name] = f"{where}: methods.{name}: {e}"
            except SggftError as e:
                raise ConfigError(f"{where}: methods.{name}: {e}") from None
    names: dict[str, str] = {}
    for task in grid.tasks:
        name = task_name(task, where)
        if safe_name(name) in names:
            raise ConfigError(f"{where}: tasks: {task!r} and {names[safe_name(name)]!r} are both named {name!r}; give one of the folders a different name")
        names[safe_name(name)] = task


def task_name(task: str, where: str = "grid") -> str:
    from sggft_meta.task import get_task

    try:
        return get_task(task).name
    except SggftError as e:
        raise ConfigError(f"{where}: tasks: {e}") from None


def cells(grid: Grid) -> list[Cell]:
    """Every cell, in grid order: method, then task, then K, then seed."""
    out = []
    names = {t: task_name(t) for t in grid.tasks}
    for method, spec in grid.methods.items():
        overrides = tuple(grid.base) + tuple(spec.overrides)
        for task in grid.tasks:
            for k in grid.shots:
                for seed in grid.seeds:
                    out.append(Cell(method, spec.kind, task, names[task], k, seed, overrides, dict(spec.options)))
    return out


def dump_grid(grid: Grid) -> str:
    return yaml.safe_dump(grid.model_dump(mode="json", exclude_defaults=False), sort_keys=False)
