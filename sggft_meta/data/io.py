"""Reading task files: jsonl, csv or tsv with columns `text`, optional `text_pair`, `label`.

Every malformed input raises `DataError` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

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
    """(line number, row dict) for every data row of a jsonl/csv/tsv file."""
    rows: list[tuple[int, dict]] = []
    try:
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON object") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}:{lineno}: expected a JSON object with 'text' and 'label', got {type(row).__name__}")
                    rows.append((lineno, row))
        else:
            delimiter = "\t" if path.suffix == ".tsv" else ","
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f, delimiter=delimiter)
                if reader.fieldnames is None or "text" not in reader.fieldnames or "label" not in reader.fieldnames:
                    raise DataError(
                        f"{path}: the header must name the columns 'text' and 'label' (and 'text_pair' for pair tasks); "
                        f"found {reader.fieldnames}"
                    )
                rows = [(lineno, row) for lineno, row in enumerate(reader, 2)]
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); re-save the file as UTF-8") from None
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    return rows


def parse_label(raw, lineno: int, path: Path, label_names: tuple[str, ...] | None, regression: bool):
    """A row's label as a class id (or float for regression), checked against the label set."""
    where = f"{path}:{lineno}"
    if raw is None or raw == "":
        raise DataError(f"{where}: the row has no 'label'")
    if regression:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: label {raw!r} is not a number, and this is a regression task") from None
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
    if all(isinstance(v, str) and not v.lstrip("-").isdigit() for v in raw):
        names = sorted(set(raw))
    else:
        try:
            ints = sorted({int(v) for v in raw})
        except (TypeError, ValueError):
            raise DataError(f"{path}: labels mix names and numbers; use one kind, or list label_names in meta.json") from None
        if ints[0] < 0:
            raise DataError(f"{path}: negative label {ints[0]}; class labels are 0..C-1 or names")
        names = [str(i) for i in range(ints[-1] + 1)]
    if len(names) < 2:
        raise DataError(f"{path}: only one label ({names[0]!r}) in the train file; a classification task needs two or more")
    pair = any("text_pair" in row and row["text_pair"] not in (None, "") for _, row in rows)
    return {"label_names": names, "pair": pair}
