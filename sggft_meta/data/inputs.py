"""A user's labelled data, in whatever form it comes, as a `Task` and its training `Split`.

`fit` accepts a registered task name or a task folder (its train split), a `Task`, or data in
memory: a list of texts with a list of labels, a `datasets.Dataset`, a pandas `DataFrame`, or a
dict of columns. In-memory data uses the columns `text`, `label` and, for pairs, `text_pair`
(rename yours with `Dataset.rename_column` / `DataFrame.rename`). A text is a string, or for
pairs a `(text, text_pair)` tuple or a dict with both fields.

Labels are names (strings) or class indices (ints). Label names come from `label_names` when
given (indices then point into it), else from a `datasets.ClassLabel` column, else from the
data: the sorted distinct names, or "0".."C-1" for indices.

Every malformed input raises `DataError` naming the row and the fix, before any model loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from ..task import Task, get_task
from .io import Split, parse_rows

TEXT, PAIR, LABEL = "text", "text_pair", "label"
MEMORY_ORIGIN = "in-memory data"


def user_task(name: str, label_names: Sequence[str], pair: bool, *, template: str | None = None,
              verbalizers: Sequence[str] | None = None, domain: str = "custom", metric: str = "accuracy") -> Task:
    """A classification task built from its parts (not registered): in-memory data, saved models."""
    names = tuple(str(n) for n in label_names)
    if len(names) < 2:
        raise DataError(f"a classifier needs two or more labels, got {list(names)}")
    if len(set(names)) != len(names):
        raise DataError(f"label names must be distinct, got {list(names)}")
    if verbalizers is not None and len(verbalizers) != len(names):
        raise DataError(f"{len(verbalizers)} verbalizers for {len(names)} labels; give one word per label")
    attrs = {"name": name, "label_names": names, "pair": bool(pair), "domain": domain, "metric": metric,
             "task_type": "classification", "template": template,
             "verbalizers": tuple(verbalizers) if verbalizers else None}
    cls = type(f"UserTask_{name}", (Task,), attrs)
    return cls()


def training_data(data: Any, *, labels: Sequence | None = None, label_names: Sequence[str] | None = None,
                  data_dir: str | Path | None = None, name: str = "user_data") -> tuple[Task, Split]:
    """(task, training split) of `data`; see the module docstring for the accepted forms."""
    if isinstance(data, (str, Path)):
        if labels is not None or label_names is not None:
            raise DataError("labels= and label_names= go with in-memory texts; a task name or folder brings its own labels")
        task = get_task(str(data))
        return _check_task(task, task.load_split("train", data_dir))
    if isinstance(data, Task):
        if labels is not None:
            raise DataError("labels= goes with in-memory texts; a Task brings its own labels")
        return _check_task(data, data.load_split("train", data_dir))
    if labels is not None:
        if not isinstance(data, (list, tuple)) and not hasattr(data, "__array__"):
            raise DataError(f"texts with labels= must be a list of texts, got {type(data).__name__}")
        texts, pairs = _texts_and_pairs(list(data), "texts")
        raw = list(labels)
        if len(raw) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(raw)} labels; give one label per text")
        return _build(texts, pairs, raw, label_names, None, name)
    columns, class_names = _columns(data)
    if TEXT not in columns or LABEL not in columns:
        raise DataError(f"the data needs the columns {TEXT!r} and {LABEL!r} (and {PAIR!r} for pairs); found {sorted(columns)}. "
                        "Rename yours (Dataset.rename_column, DataFrame.rename), or pass texts and labels=")
    texts = [_text(v, i, TEXT) for i, v in enumerate(columns[TEXT])]
    pairs = [_text(v, i, PAIR) for i, v in enumerate(columns[PAIR])] if PAIR in columns else None
    return _build(texts, pairs, list(columns[LABEL]), label_names or class_names, None, name)


def _check_task(task: Task, split: Split) -> tuple[Task, Split]:
    if task.is_regression:
        raise DataError(f"task {task.name!r} is a regression task; fit builds classifiers (use sggft-meta finetune for regression)")
    missing = [task.label_names[c] for c in range(task.num_classes) if not np.any(split.labels == c)]
    if missing:
        raise DataError(f"task {task.name!r}: the train split ({split.origin}) has no example of {missing}; add some, or drop the label")
    return task, split


def _columns(data: Any) -> tuple[dict[str, list], tuple[str, ...] | None]:
    """Columns of a Dataset, DataFrame or dict of lists, and a ClassLabel's names if any."""
    if hasattr(data, "column_names") and hasattr(data, "features"):  # datasets.Dataset
        feature = data.features.get(LABEL) if LABEL in data.column_names else None
        names = tuple(feature.names) if getattr(feature, "names", None) else None
        return {c: list(data[c]) for c in data.column_names if c in (TEXT, PAIR, LABEL)}, names
    if hasattr(data, "columns") and hasattr(data, "to_dict"):  # pandas.DataFrame
        return {str(c): data[c].tolist() for c in data.columns if c in (TEXT, PAIR, LABEL)}, None
    if isinstance(data, dict):
        return {k: list(v) for k, v in data.items() if k in (TEXT, PAIR, LABEL)}, None
    raise DataError(
        f"cannot read training data of type {type(data).__name__}: give a task name or folder, a list of texts "
        "with labels=, a datasets.Dataset, a pandas DataFrame or a dict of columns"
    )


def _text(value: Any, row: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"row {row}: {field!r} must be a non-empty string, got {value!r}")
    return value


def _texts_and_pairs(items: list, what: str, pair: bool | None = None) -> tuple[list[str], list[str] | None]:
    """Texts (and pairs) of a list of strings, (text, text_pair) tuples or dicts; `pair` forces the kind."""
    if not items:
        raise DataError(f"no {what}: give at least one text")
    first = items[0]
    is_pair = pair if pair is not None else (isinstance(first, (tuple, list)) or (isinstance(first, dict) and PAIR in first))
    texts: list[str] = []
    pairs: list[str] | None = [] if is_pair else None
    for i, item in enumerate(items):
        if isinstance(item, dict):
            text, second = item.get(TEXT), item.get(PAIR)
        elif isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise DataError(f"{what}[{i}]: a text pair is a ({TEXT}, {PAIR}) tuple of two strings, got {len(item)} items")
            text, second = item
        else:
            text, second = item, None
        texts.append(_text(text, i, TEXT))
        if is_pair:
            if second is None:
                raise DataError(f"{what}[{i}]: this model classifies text pairs but the input has no {PAIR!r}; "
                                f"give ({TEXT}, {PAIR}) tuples or dicts with both fields")
            pairs.append(_text(second, i, PAIR))
        elif second is not None:
            raise DataError(f"{what}[{i}]: a text pair was given, but the other inputs (and the model) take single texts")
    return texts, pairs


def prediction_inputs(items: Sequence, pair: bool) -> tuple[list[str], list[str] | None]:
    """Texts (and pairs) to classify: strings, or (text, text_pair) tuples / dicts for a pair model."""
    if isinstance(items, str):
        raise DataError("predict takes a list of texts, got one string; wrap it: predict([text])")
    items = list(items)
    if not pair and items and isinstance(items[0], (tuple, list)):
        raise DataError("inputs[0]: a text pair was given, but this model classifies single texts")
    return _texts_and_pairs(items, "inputs", pair=pair)


def _build(texts: list[str], pairs: list[str] | None, raw: list, label_names, class_names, name: str) -> tuple[Task, Split]:
    raw = [v.item() if hasattr(v, "item") else v for v in raw]
    if any(v is None or (isinstance(v, float) and v != v) for v in raw):
        row = next(i for i, v in enumerate(raw) if v is None or (isinstance(v, float) and v != v))
        raise DataError(f"row {row}: the label is missing")
    kinds = {"name" if isinstance(v, str) else "index" if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
             else "index" if isinstance(v, float) and float(v).is_integer() else "other" for v in raw}
    if "other" in kinds:
        row = next(i for i, v in enumerate(raw) if not isinstance(v, (str, int, float)) or isinstance(v, bool)
                   or (isinstance(v, float) and not v.is_integer()))
        raise DataError(f"row {row}: label {raw[row]!r} is neither a label name nor a class index; this is a classifier")
    if kinds == {"name", "index"}:
        raise DataError("labels mix names and class indices; use one kind")
    if label_names is not None:
        names = tuple(str(n) for n in label_names)
    elif kinds == {"name"}:
        names = tuple(sorted(set(raw)))
    else:
        names = tuple(str(i) for i in range(int(max(raw)) + 1))
    if kinds == {"name"}:
        index = {n: i for i, n in enumerate(names)}
        unknown = [v for v in raw if v not in index]
        if unknown:
            raise DataError(f"label {unknown[0]!r} is not one of the label names {list(names)}; add it to label_names")
        ids = [index[v] for v in raw]
    else:
        ids = [int(v) for v in raw]
        bad = [v for v in ids if not 0 <= v < len(names)]
        if bad:
            raise DataError(f"label {bad[0]} is outside the label names {list(names)} (valid indices 0..{len(names) - 1})")
    task = user_task(name, names, pairs is not None)
    split = Split(tuple(texts), tuple(pairs) if pairs is not None else None, np.asarray(ids, dtype=np.int64), MEMORY_ORIGIN)
    return _check_task(task, split)


INPUT_SUFFIXES = (".jsonl", ".csv", ".tsv")


def read_prediction_file(path: str, pair: bool) -> tuple[list, list]:
    """(inputs, ids) of a file to classify: jsonl (one JSON object per line with `text`, and
    `text_pair` for a pair model; a bare JSON string is a text), csv or tsv with a header, by
    extension; `-` reads jsonl from stdin. `ids` holds each row's `id` field (None without one).
    Every problem raises `DataError` naming the file and line."""
    import sys

    if path == "-":
        name, lines, kind = "<stdin>", sys.stdin.read().splitlines(), ".jsonl"
    else:
        file = Path(path).expanduser()
        kind = file.suffix.lower()
        name = str(file)
        if kind not in INPUT_SUFFIXES:
            raise DataError(f"--input {name}: give a .jsonl, .csv or .tsv file (or - for jsonl on stdin)")
        if not file.is_file():
            raise DataError(f"--input {name} does not exist")
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start}); re-save the file as UTF-8") from None
    rows = parse_rows(lines, name, kind, (TEXT,), bare_string=TEXT)
    if not rows:
        raise DataError(f"{name}: no texts to classify (the input is empty)")
    inputs, ids = [], []
    for lineno, row in rows:
        text = row.get(TEXT)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{name}:{lineno}: the row has no non-empty {TEXT!r}")
        if pair:
            second = row.get(PAIR)
            if not isinstance(second, str) or not second.strip():
                raise DataError(f"{name}:{lineno}: this model classifies text pairs, but the row has no non-empty {PAIR!r}")
            inputs.append((text, second))
        else:
            inputs.append(text)
        ids.append(row.get("id"))
    return inputs, ids
