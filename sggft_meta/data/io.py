"""Reading task files: jsonl, csv or tsv with columns `text`, optional `text_pair`, `label`.

Every malformed input raises `DataError` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError

SPLIT_SUFFIXES = (".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class Split:
    """One split of a task as columns. `labels` are int64 class ids (float32 for regression)."""

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: np.ndarray
    origin: str  # where it was read from, for messages and `tasks list`

    def __len__(self) -> int:
        return len(self.texts)


def find_split_file(folder: Path, split: str) -> Path | None:
    """`folder/split.{jsonl,csv,tsv}`, the first that exists."""
    for suffix in SPLIT_SUFFIXES:
        path = folder / f"{split}{suffix}"
        if path.is_file():
            return path
    return None


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row dict) for every data row of a task's jsonl/csv/tsv file."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = parse_rows(f, str(path), path.suffix, ("text", "label"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); re-save the file as UTF-8") from None
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    return rows


def parse_rows(lines: Iterable[str], name: str, kind: str, required: Sequence[str],
               bare_string: str | None = None) -> list[tuple[int, dict]]:
    """(line number, row dict) for every data row of `lines` of a `kind` file (".jsonl", ".csv",
    ".tsv"), named `name` in errors. csv/tsv need a header naming the `required` columns and as many
    fields in every row as the header has; a jsonl line is a JSON object (or, with `bare_string`, a
    bare JSON string taken as that field). Every problem is a `DataError` naming the file and line."""
    columns = " and ".join(repr(c) for c in required)
    rows: list[tuple[int, dict]] = []
    if kind == ".jsonl":
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{name}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON object") from None
            if bare_string is not None and isinstance(row, str):
                row = {bare_string: row}
            if not isinstance(row, dict):
                raise DataError(f"{name}:{lineno}: expected a JSON object with {columns}, got {type(row).__name__}")
            rows.append((lineno, row))
        return rows
    delimiter = "\t" if kind == ".tsv" else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    fields = reader.fieldnames
    if fields is None:
        return rows
    if any(c not in fields for c in required):
        raise DataError(f"{name}: the header must name the columns {columns} (and 'text_pair' for pairs); found {fields}")
    width = len(fields)
    end = reader.line_num  # the header's last line
    for row in reader:
        lineno, end = end + 1, reader.line_num  # a quoted field may span several lines
        if None in row:  # DictReader keeps the surplus fields under the key None
            raise DataError(
                f"{name}:{lineno}: the row has {width + len(row[None])} fields but the header has {width} "
                f"({', '.join(fields)}); quote fields that contain {_delimiter_name(delimiter)}"
            )
        if any(v is None for v in row.values()):
            have = sum(v is not None for v in row.values())
            raise DataError(f"{name}:{lineno}: the row has {have} fields but the header has {width} ({', '.join(fields)}); give every column a value")
        rows.append((lineno, row))
    return rows


def _delimiter_name(delimiter: str) -> str:
    return "a tab" if delimiter == "\t" else f"a {delimiter!r}"


def _refuse_bool(raw, where: str) -> None:
    """JSON true/false would pass as 1/0 (a bool is an int in Python): refuse it."""
    if isinstance(raw, bool):
        raise DataError(
            f"{where}: label {'true' if raw else 'false'} is a JSON boolean, not a class; "
            "write the class index (0, 1, ...) or the class name as a string"
        )


def parse_label(raw, lineno: int, path: Path, label_names: tuple[str, ...] | None, regression: bool):
    """A row's label as a class id (or float for regression), checked against the label set."""
    where = f"{path}:{lineno}"
    if raw is None or raw == "":
        raise DataError(f"{where}: the row has no 'label'")
    _refuse_bool(raw, where)
    if regression:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: label {raw!r} is not a number, and this is a regression task") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: label {raw!r} is not a finite number; a regression label is a real value")
        return value
    names = label_names or ()
    if isinstance(raw, str) and raw in names:
        return names.index(raw)
    try:
        as_int = int(raw)
        if isinstance(raw, float) and raw != as_int:
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: label {raw!r} is not one of the task's labels {list(names)}; "
            "use a label name or its index, or add it to label_names in meta.json"
        ) from None
    if not 0 <= as_int < len(names):
        raise DataError(
            f"{where}: label {as_int} is outside the task's label set {list(names)} "
            f"(valid indices 0..{len(names) - 1}); fix the row or add the label to label_names in meta.json"
        )
    return as_int


def read_split(path: Path, *, pair: bool, label_names: tuple[str, ...] | None, regression: bool) -> Split:
    """Read and validate one split file."""
    texts: list[str] = []
    pairs: list[str] = []
    labels: list = []
    for lineno, row in read_rows(path):
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: the row has no non-empty 'text'")
        texts.append(text)
        if pair:
            second = row.get("text_pair")
            if not isinstance(second, str) or not second.strip():
                raise DataError(f"{path}:{lineno}: this is a pair task but the row has no non-empty 'text_pair'")
            pairs.append(second)
        labels.append(parse_label(row.get("label"), lineno, path, label_names, regression))
    dtype = np.float32 if regression else np.int64
    return Split(tuple(texts), tuple(pairs) if pair else None, np.asarray(labels, dtype=dtype), str(path))


def infer_folder_meta(folder: Path) -> dict:
    """Label names and pairing of a folder without meta.json, read from its train file."""
    path = find_split_file(folder, "train")
    if path is None:
        raise DataError(f"{folder}: no train.jsonl, train.csv or train.tsv; a task folder needs a train file and a test file")
    rows = read_rows(path)
    raw = [row.get("label") for _, row in rows]
    if any(v is None or v == "" for v in raw):
        bad = next(lineno for lineno, row in rows if row.get("label") in (None, ""))
        raise DataError(f"{path}:{bad}: the row has no 'label'")
    for lineno, row in rows:
        _refuse_bool(row.get("label"), f"{path}:{lineno}")
    if all(isinstance(v, str) and not v.lstrip("-").isdigit() for v in raw):
        names = sorted(set(raw))
    else:
        try:
            ints = [int(v) for v in raw]
        except (TypeError, ValueError):
            raise DataError(f"{path}: labels mix names and numbers; use one kind, or list label_names in meta.json") from None
        distinct = sorted(set(ints))
        count = len(distinct)
        bad = next(((lineno, v) for (lineno, _), v in zip(rows, ints) if not 0 <= v < count), None)
        if bad is not None and count >= 2:
            raise DataError(
                f"{path}:{bad[0]}: label {bad[1]} is outside the valid range 0..{count - 1}: without label_names in "
                f"meta.json, class labels are the indices 0..C-1 of the C={count} labels found ({distinct}); "
                "number the classes from 0 without gaps, or list label_names in meta.json"
            )
        names = [str(i) for i in distinct]
    if len(names) < 2:
        raise DataError(
            f"{path}: task {folder.name!r} has only one class ({names[0]!r}) in its train file: a classifier needs two "
            "or more; add rows of the other classes, or list every class in label_names in meta.json"
        )
    pair = any("text_pair" in row and row["text_pair"] not in (None, "") for _, row in rows)
    return {"label_names": names, "pair": pair}
