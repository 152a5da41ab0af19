"""Tasks: what a task is, the TASKS registry, `register_task`, and folder tasks.

A task knows its label names, whether its input is a single text or a pair, its domain and
metric, and where its data comes from, in this order:

1. a fixed folder (the embedded demo tasks, or a user's folder task);
2. the data directory given by configuration (`data.dir`, `--data-dir`) or the environment
   variable `SGGFT_DATA_DIR`: one sub-folder per task, named like the task;
3. its Hugging Face hub id, when neither is set and the hub is reachable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from .registry import Registry, closest
from .data.io import Split, find_split_file, infer_folder_meta, read_split
from .errors import DataError, RegistryError
from .metrics import METRIC_FUNCTIONS, check_metric

DATA_DIR_ENV = "SGGFT_DATA_DIR"
#: metric names a task may give, besides `f1:<class name>` (docs/tasks.md)
METRICS = tuple(METRIC_FUNCTIONS)
#: keys of a task folder's meta.json that define the task
META_KEYS = ("name", "label_names", "pair", "domain", "metric", "task_type", "template", "verbalizers", "description")
#: keys that only document the data (its source, licence, row counts); accepted and ignored
META_NOTE_KEYS = ("source", "license_note", "rows", "subsampled", "test_is_official_dev", "notes")
SPLITS = ("train", "dev", "test")
HOW_TO_SET_DATA = (
    f"set the data folder with --data-dir (config field data.dir) or the environment variable {DATA_DIR_ENV}, "
    "pointing at a folder with one sub-folder per task (train.jsonl, test.jsonl, meta.json)"
)


@dataclass(frozen=True)
class HubSource:
    """How to read a task from the Hugging Face hub with `datasets.load_dataset`."""

    path: str
    name: str | None = None
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "test": "test"})
    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    # hub label id -> our label id, where the hub orders classes differently
    label_map: dict[int, int] | None = None


class Task:
    """A text classification (or regression) task. Subclass and decorate with `@register_task`.

    Class attributes: `name`, `label_names`, `domain`, `metric` are required; `pair`,
    `task_type`, `hub`, `template`, `verbalizers`, `description` are optional. Override
    `load_split` to read data from anywhere else.
    """

    name: ClassVar[str]
    label_names: ClassVar[tuple[str, ...]] = ()
    pair: ClassVar[bool] = False
    domain: ClassVar[str]
    metric: ClassVar[str] = "accuracy"
    task_type: ClassVar[str] = "classification"
    hub: ClassVar[HubSource | None] = None
    folder: ClassVar[Path | None] = None
    # Prompt for causal-LM backbones: {text}, {text_pair} and {label} (the verbalizer slot, last).
    template: ClassVar[str | None] = None
    verbalizers: ClassVar[tuple[str, ...] | None] = None
    description: ClassVar[str] = ""

    # ----------------------------------------------------------------- properties
    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def is_regression(self) -> bool:
        return self.task_type == "regression"

    def prompt_template(self) -> str:
        if self.template:
            return self.template
        return "{text} Question: {text_pair}? Answer: {label}" if self.pair else "{text} Category: {label}"

    def verbalizer_words(self) -> tuple[str, ...]:
        return tuple(self.verbalizers) if self.verbalizers else tuple(self.label_names)

    # ----------------------------------------------------------------- data
    def source(self, data_dir: str | Path | None = None) -> str:
        """Where this task's data would be read from, in words (for `tasks list`)."""
        folder = self.local_folder(data_dir)
        if folder is not None:
            return str(folder)
        if self.hub is not None:
            return f"hub:{self.hub.path}" + (f"/{self.hub.name}" if self.hub.name else "")
        return "(no data: set a data folder)"

    def local_folder(self, data_dir: str | Path | None = None) -> Path | None:
        if self.folder is not None:
            return Path(self.folder)
        root = resolve_data_dir(data_dir)
        return None if root is None else root / self.name

    def load_split(self, split: str, data_dir: str | Path | None = None) -> Split:
        """Read one split (`train`, `test`, or `dev` where the data has one)."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; use one of {SPLITS}")
        folder = self.local_folder(data_dir)
        if folder is not None:
            return _read_folder_split(self, folder, split)
        if self.hub is not None:
            return _read_hub_split(self, split)
        raise DataError(f"task {self.name!r} has no local data and no hub id: {HOW_TO_SET_DATA}")

    def row_counts(self, data_dir: str | Path | None = None) -> dict[str, int]:
        folder = self.local_folder(data_dir)
        counts = {}
        if folder is not None:
            for split in SPLITS:
                path = find_split_file(folder, split)
                if path is not None:
                    counts[split] = len(self.load_split(split, data_dir))
        return counts

    def __repr__(self) -> str:
        return f"<Task {self.name} {self.domain} {self.num_classes or 'regression'}{' pair' if self.pair else ''}>"


def data_source_record(data_dir: str | Path | None = None, task: Task | None = None) -> dict:
    """Where a run's data came from, for result files: {"dir": absolute folder or None, "from": ...}.

    "from" is "option" (`data_dir`, i.e. data.dir / --data-dir), "env SGGFT_DATA_DIR", "hub"
    (neither set: tasks read from the Hugging Face hub), or, when `task` has a folder of its own,
    "demo" (a demo task shipped in the package) or "folder" (a task given as a folder path), with
    "dir" that folder."""
    if task is not None and task.folder is not None:
        folder = Path(task.folder).expanduser().resolve()
        packaged = Path(__file__).resolve().parent / "demo_corpus"
        return {"dir": str(folder), "from": "demo" if folder.is_relative_to(packaged) else "folder"}
    root = resolve_data_dir(data_dir)
    if root is None:
        return {"dir": None, "from": "hub"}
    given = data_dir is not None and str(data_dir) != ""
    return {"dir": str(root.resolve()), "from": "option" if given else f"env {DATA_DIR_ENV}"}


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The data folder from the argument, else from $SGGFT_DATA_DIR; it must exist."""
    if data_dir is not None and str(data_dir) != "":
        where, root = "data.dir / --data-dir", Path(data_dir)
    elif os.environ.get(DATA_DIR_ENV):
        where, root = DATA_DIR_ENV, Path(os.environ[DATA_DIR_ENV])
    else:
        return None
    root = root.expanduser()
    if not root.is_dir():
        raise DataError(f"the data folder {str(root)!r} (from {where}) does not exist; {HOW_TO_SET_DATA}")
    return root


def _read_folder_split(task: Task, folder: Path, split: str) -> Split:
    if not folder.is_dir():
        raise DataError(
            f"task {task.name!r}: the data folder {str(folder.parent)!r} has no sub-folder {folder.name!r}; {HOW_TO_SET_DATA}"
        )
    path = find_split_file(folder, split)
    if path is None:
        missing = f"task {task.name!r}: the task folder {str(folder)!r} has no {split}.jsonl, {split}.csv or {split}.tsv"
        if task.folder is not None:  # the folder was given directly: the data-folder settings play no part
            raise DataError(f"{missing}; add the {split} file (a task folder needs a train file and a test file)")
        raise DataError(
            f"{missing}; add the {split} file there (a task folder needs a train file and a test file), "
            f"or point --data-dir / {DATA_DIR_ENV} at another data folder"
        )
    _check_meta(task, folder)
    stat = path.stat()
    return _read_cached(task.name, str(path), stat.st_mtime_ns, stat.st_size, task.pair, task.label_names, task.is_regression)


@lru_cache(maxsize=64)
def _read_cached(name, path, mtime, size, pair, label_names, regression) -> Split:
    return read_split(Path(path), pair=pair, label_names=label_names or None, regression=regression)


def _check_meta(task: Task, folder: Path) -> None:
    """A folder's meta.json, if any, must describe the same labels and pairing as the task."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return
    meta = _load_meta(meta_path)
    names = meta.get("label_names")
    if names is not None and not task.is_regression and tuple(names) != tuple(task.label_names):
        raise DataError(
            f"{meta_path}: label_names {names} do not match task {task.name!r} {list(task.label_names)}; "
            "the data folder holds a different task or label order"
        )
    if "pair" in meta and bool(meta["pair"]) != task.pair:
        raise DataError(f"{meta_path}: pair={meta['pair']} but task {task.name!r} has pair={task.pair}")


def _load_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix or delete meta.json") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: meta.json must hold a JSON object")
    for key in meta:
        if key not in META_KEYS and key not in META_NOTE_KEYS:
            hint = closest(str(key), list(META_KEYS + META_NOTE_KEYS), n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            raise DataError(f"{path}: unknown key {key!r}{did_you_mean} (valid keys: {', '.join(META_KEYS)}; see docs/tasks.md)")
    names = meta.get("label_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)):
        raise DataError(f"{path}: label_names must be a list of class names (non-empty strings), got {names!r}")
    if names is not None and len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{path}: label_names lists {', '.join(map(repr, twice))} more than once; give each class once")
    if "pair" in meta and not isinstance(meta["pair"], bool):
        raise DataError(f"{path}: pair must be true or false, got {meta['pair']!r}")
    return meta


def _read_hub_split(task: Task, split: str) -> Split:
    """Read a split from the Hugging Face hub (online users; tests run offline)."""
    hub = task.hub
    assert hub is not None
    if split not in hub.splits:
        raise DataError(f"task {task.name!r} has no {split!r} split on the hub ({hub.path})")
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    if offline:
        raise DataError(f"task {task.name!r}: no local data and HF_HUB_OFFLINE is set, so the hub cannot be used; {HOW_TO_SET_DATA}")
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"task {task.name!r}: reading from the hub needs the `datasets` package "
            f"(pip install 'sggft-meta[hub]'), or {HOW_TO_SET_DATA}"
        ) from None
    try:
        ds = datasets.load_dataset(hub.path, hub.name, split=hub.splits[split])
    except Exception as e:  # network, auth, missing dataset: all end in the same advice
        raise DataError(f"task {task.name!r}: could not load {hub.path!r} from the hub ({type(e).__name__}: {e}); {HOW_TO_SET_DATA}") from None
    texts, pairs, labels = [], [], []
    for row in ds:
        label = row[hub.label]
        if not task.is_regression:
            if label is None or int(label) < 0:  # SNLI marks unlabelled pairs with -1
                continue
            label = hub.label_map.get(int(label), int(label)) if hub.label_map else int(label)
        texts.append(row[hub.text])
        if task.pair:
            pairs.append(row[hub.text_pair])
        labels.append(label)
    dtype = np.float32 if task.is_regression else np.int64
    return Split(tuple(texts), tuple(pairs) if task.pair else None, np.asarray(labels, dtype=dtype), f"hub:{hub.path}:{hub.splits[split]}")


# --------------------------------------------------------------------- registry
TASKS: Registry[Task] = Registry("task")


def _validate(cls: type, where: str | None = None) -> None:
    """Check a task class; sets `cls.metric` to the checked metric. `where` names the task in messages."""
    where = where or f"task class {cls.__name__}"
    for attr in ("name", "domain"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr):
            raise RegistryError(f"{where}: set the class attribute {attr!r} to a non-empty string")
    if cls.task_type not in ("classification", "regression"):
        raise RegistryError(f"{where}: task_type must be 'classification' or 'regression', got {cls.task_type!r}")
    if cls.task_type == "classification" and len(cls.label_names) < 2:
        only = f" ({cls.label_names[0]!r})" if len(cls.label_names) == 1 else ""
        raise RegistryError(f"{where}: task {cls.name!r} has only one class{only}: a classifier needs two or more; "
                            "give label_names with two or more names")
    try:
        cls.metric = check_metric(cls.metric, tuple(cls.label_names), cls.task_type == "regression")
    except RegistryError as e:
        raise RegistryError(f"{where}: {e}") from None
    if cls.verbalizers is not None and len(cls.verbalizers) != len(cls.label_names):
        raise RegistryError(f"{where}: {len(cls.verbalizers)} verbalizers for {len(cls.label_names)} labels")
    if cls.template is not None and not cls.template.rstrip(" .").endswith("{label}"):
        raise RegistryError(f"{where}: the template must end with the {{label}} slot (a trailing '.' is allowed)")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: validate a `Task` subclass and register one instance under its name."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise RegistryError(f"@register_task decorates a subclass of sggft_meta.Task, got {cls!r}")
    cls.label_names = tuple(cls.label_names)
    _validate(cls)
    TASKS.register(cls.name, cls())
    return cls


def folder_task(path: str | Path, name: str | None = None) -> Task:
    """A task defined by a folder of train/test files alone (no code).

    `meta.json` (optional) gives label_names, pair, domain, metric, template, verbalizers;
    without it, labels and pairing are read from the train file.
    """
    folder = Path(path).expanduser().resolve()
    if folder.is_file():
        raise DataError(_not_a_folder(path))
    if not folder.is_dir():
        raise DataError(f"task folder {str(path)!r} does not exist; give the path to a folder with train.jsonl and "
                        "test.jsonl (or .csv / .tsv), or a registered task name (sggft-meta tasks list)")
    meta = _load_meta(folder / "meta.json") if (folder / "meta.json").is_file() else {}
    if "label_names" not in meta and meta.get("task_type", "classification") == "classification":
        meta = {**infer_folder_meta(folder), **meta}
    regression = meta.get("task_type") == "regression"
    attrs = {
        "name": name or meta.get("name") or folder.name,
        "label_names": tuple(meta.get("label_names", ())),
        "pair": bool(meta.get("pair", False)),
        "domain": meta.get("domain", "custom"),
        "metric": meta.get("metric", "pearson" if regression else "accuracy"),
        "task_type": meta.get("task_type", "classification"),
        "folder": folder,
        "template": meta.get("template"),
        "verbalizers": tuple(meta["verbalizers"]) if meta.get("verbalizers") else None,
        "description": meta.get("description", ""),
    }
    cls = type(f"FolderTask_{attrs['name']}", (Task,), attrs)
    try:
        _validate(cls, where=str(folder / "meta.json"))
    except RegistryError as e:
        raise DataError(str(e)) from None
    return cls()


def _not_a_folder(path) -> str:
    msg = f"{str(path)!r} is a file, not a task folder (a folder with train.jsonl and test.jsonl, or .csv / .tsv, and an optional meta.json)"
    parent = Path(path).expanduser().resolve().parent
    return msg + (f"; give its folder {str(parent)!r}" if find_split_file(parent, "train") is not None else "")


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", os.sep, os.altsep or "/")) or text.startswith((".", "~"))


def load_builtin_tasks() -> None:
    """Import the built-in task definitions (the `sggft_tasks` package) once."""
    import sggft_tasks  # noqa: F401  (registers on import)


def get_task(name_or_path: str) -> Task:
    """A registered task by name, or a folder task when given a path to a folder."""
    load_builtin_tasks()
    if name_or_path in TASKS:
        return TASKS.get(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.is_dir() or path.is_file() or _looks_like_path(str(name_or_path)):
        return folder_task(name_or_path)  # raises for a file or a missing folder
    return TASKS.get(name_or_path)  # raises with the closest names
