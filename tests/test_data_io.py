"""Reading task data: folders, formats, the data-folder option and variable, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import polarity_rows, shared_data_dir, write_jsonl
from sggft_meta import DataError, folder_task, get_task
from sggft_meta.task import DATA_DIR_ENV, resolve_data_dir


def test_folder_task_reads_meta_and_rows(polarity_folder):
    task = folder_task(polarity_folder)
    assert task.name == "polarity" and task.label_names == ("negative", "positive") and task.domain == "sentiment"
    train = task.load_split("train")
    assert len(train) == 80 and train.pairs is None
    assert train.labels.dtype == np.int64 and set(train.labels.tolist()) == {0, 1}
    assert get_task(str(polarity_folder)).name == "polarity"


@pytest.mark.parametrize("suffix,delim", [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv_with_string_labels_and_pairs(tmp_path, suffix, delim):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for split, n in (("train", 6), ("test", 2)):
        lines = [delim.join(["text", "text_pair", "label"])]
        for i in range(n):
            label = "yes" if i % 2 else "no"
            lines.append(delim.join([f"premise {i}", f"hypothesis {i}", label]))
        (folder / f"{split}{suffix}").write_text("\n".join(lines) + "\n")
    task = folder_task(folder)
    assert task.pair and task.label_names == ("no", "yes")
    test = task.load_split("test")
    assert test.pairs == ("hypothesis 0", "hypothesis 1") and test.labels.tolist() == [0, 1]


def test_label_outside_label_set_is_reported_with_line(polarity_folder):
    rows = polarity_rows(2) + [{"text": "odd one", "label": 7}]
    write_jsonl(polarity_folder / "test.jsonl", rows)
    task = folder_task(polarity_folder)
    with pytest.raises(DataError, match=r"test\.jsonl:5: label 7 is outside the task's label set"):
        task.load_split("test")
    write_jsonl(polarity_folder / "test.jsonl", polarity_rows(2) + [{"text": "odd", "label": "neutral"}])
    with pytest.raises(DataError, match=r"label 'neutral' is not one of the task's labels"):
        folder_task(polarity_folder).load_split("test")


def test_malformed_rows(tmp_path):
    folder = tmp_path / "bad"
    write_jsonl(folder / "train.jsonl", polarity_rows(3))
    (folder / "test.jsonl").write_text('{"text": "ok", "label": 1}\n{"text": "broken", "label": \n')
    with pytest.raises(DataError, match=r"test\.jsonl:2: not valid JSON"):
        folder_task(folder).load_split("test")
    (folder / "test.jsonl").write_text('{"label": 1}\n')
    with pytest.raises(DataError, match=r"no non-empty 'text'"):
        folder_task(folder).load_split("test")
    (folder / "test.csv").write_text("sentence,label\nhi,1\n")
    (folder / "test.jsonl").unlink()
    with pytest.raises(DataError, match=r"header must name the columns 'text' and 'label'"):
        folder_task(folder).load_split("test")


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        folder_task(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train.jsonl, train.csv or train.tsv"):
        folder_task(tmp_path / "empty")
    only_train = tmp_path / "only_train"
    write_jsonl(only_train / "train.jsonl", polarity_rows(3))
    with pytest.raises(DataError, match="has no test.jsonl"):
        folder_task(only_train).load_split("test")


def test_data_dir_option_and_variable(tmp_path, monkeypatch):
    root = tmp_path / "data"
    folder = root / "sst2"
    write_jsonl(folder / "train.jsonl", polarity_rows(5))
    write_jsonl(folder / "test.jsonl", polarity_rows(2, offset=50))
    sst2 = get_task("sst2")
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert len(sst2.load_split("train", root)) == 10
    monkeypatch.setenv(DATA_DIR_ENV, str(root))
    assert len(sst2.load_split("test")) == 4
    assert resolve_data_dir(None) == root


def test_missing_data_dir_names_option_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "not_there"))
    with pytest.raises(DataError, match=r"SGGFT_DATA_DIR.*does not exist.*--data-dir"):
        get_task("sst2").load_split("train")
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"HF_HUB_OFFLINE.*--data-dir \(config field data.dir\).*SGGFT_DATA_DIR"):
        get_task("sst2").load_split("train")
    with pytest.raises(DataError, match=r"has no sub-folder 'rte'"):
        get_task("rte").load_split("train", tmp_path)  # data dir without an rte folder


def test_meta_json_mismatch_is_caught(tmp_path):
    folder = tmp_path / "data" / "sst2"
    write_jsonl(folder / "train.jsonl", polarity_rows(3))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["positive", "negative"]}))
    with pytest.raises(DataError, match="do not match task 'sst2'"):
        get_task("sst2").load_split("train", tmp_path / "data")


def test_demo_tasks_ship_with_the_package():
    from sggft_tasks.demo import DEMO_DIR, DEMO_TASKS

    assert len(DEMO_TASKS) >= 4
    domains = {get_task(name).domain for name in DEMO_TASKS}
    assert len(domains) >= 2
    for name in DEMO_TASKS:
        task = get_task(name)
        assert task.local_folder() == DEMO_DIR / name
        assert len(task.load_split("train")) >= 100 and len(task.load_split("test")) >= 50


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data not present")
def test_every_shared_task_loads_from_the_data_folder():
    data = shared_data_dir()
    for folder in sorted(p for p in data.iterdir() if (p / "meta.json").is_file()):
        meta = json.loads((folder / "meta.json").read_text())
        task = get_task(meta["name"])
        counts = task.row_counts(data)
        assert counts["train"] == meta["rows"]["train"] and counts["test"] == meta["rows"]["test"], meta["name"]
