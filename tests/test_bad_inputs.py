"""The catalogue of bad inputs: every row is one thing a user can get wrong, the call that meets
it, the error class it must raise and phrases its one-line message must (and must not) contain.

A new bad input joins by adding a row to `CASES` (or to `CONFIG_CASES` for a `key=value` config
override). Rows build their files under pytest's `tmp_path`; `{tmp}` in a phrase stands for it.

Cases that need a running process, a killed one or a run to resume are tested beside the code
they exercise; this index names them (`test_the_index_names_tests_that_exist` keeps it true):

- resume with another aligner width: test_outer_loop.py::test_resume_with_another_aligner_width_is_a_clear_error
- resume with a changed training config: test_outer_loop.py::test_resume_refuses_a_changed_training_config,
  test_outer_loop.py::test_resume_names_every_changed_field,
  test_meta_init.py::test_resume_refuses_changed_settings_and_ignores_what_it_does_not_read,
  test_cli.py::test_meta_train_resume_with_another_config_is_refused_before_the_backbone_loads
- a finished meta-training whose saved aligner was damaged: test_outer_loop.py::test_a_finished_run_verifies_its_aligner_and_rebuilds_a_damaged_one
- a resumed meta-training says so: test_outer_loop.py::test_a_resumed_run_says_so_on_stderr
- kill -9, then the same command: test_meta_cli.py::test_kill_9_mid_run_then_the_same_command_ends_bit_identical
- Ctrl-C with an earlier finished --out: test_cli.py::test_ctrl_c_leaves_a_finished_out_as_it_was
- --out a folder, read-only or under a file: test_cli.py::test_run_out_is_checked_before_any_work,
  test_cli.py::test_meta_train_out_is_checked_before_the_backbone_loads
- torchrun on a one-process command: test_cli.py::test_one_process_commands_refuse_torchrun
- overrides after a flag: test_cli.py::test_overrides_anywhere_on_the_line_in_order
- one meaning of --steps: test_cli.py::test_steps_is_train_max_steps_everywhere
- --no-progress quiet, a line per seed: test_cli.py::test_no_progress_hides_weight_loading_and_prints_a_line_per_seed
- where the data came from: test_cli.py::test_result_file_records_where_the_data_came_from
- files and folders respect the umask: test_io.py::test_files_and_directories_respect_the_umask
- metrics against scikit-learn: test_metrics.py::test_classification_metrics_match_sklearn
- predict on a folder that is not a model, another backbone, empty or malformed input, a pair
  model given single texts: test_predict_cli.py::test_predict_errors
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from pydantic import BaseModel

from conftest import polarity_rows, write_jsonl
from sggft_meta import metrics
from sggft_meta.config import RunConfig, check_alignment_inputs, load_config
from sggft_meta.errors import ConfigError, DataError, RegistryError, SggftError
from sggft_meta.task import DATA_DIR_ENV, data_source_record, folder_task, get_task

# phrases no user-facing message may contain
NEVER = ("FolderTask_", "Traceback", "\n")


@dataclass
class Case:
    id: str
    act: Callable[[Path], object]  # does the bad thing, given tmp_path
    error: type[SggftError]
    phrases: tuple[str, ...]
    absent: tuple[str, ...] = field(default=())


# ----------------------------------------------------------------------------- builders
def task_folder(tmp: Path, name: str = "task", *, train=None, test=None, meta=None, files: dict | None = None) -> Path:
    """A task folder: train/test jsonl rows (default: two polarity classes), meta.json, raw files."""
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", polarity_rows(4) if train is None else train)
    if test is not False:
        write_jsonl(folder / "test.jsonl", polarity_rows(2, offset=50) if test is None else test)
    if meta is not None:
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    for fname, text in (files or {}).items():
        (folder / fname).write_text(text, encoding="utf-8")
    return folder


def csv_folder(tmp: Path, suffix: str, train_text: str) -> Path:
    folder = tmp / f"csv{suffix.replace('.', '_')}"
    folder.mkdir()
    (folder / f"train{suffix}").write_text(train_text, encoding="utf-8")
    (folder / f"test{suffix}").write_text(train_text.splitlines()[0] + "\n", encoding="utf-8")
    return folder


def rows(*labels) -> list[dict]:
    return [{"text": f"row {i}", "label": label} for i, label in enumerate(labels)]


def alignment_cfg(*extra):
    return load_config(None, ["method=sggft", "sggft.lambda_align=1", *extra])


# ----------------------------------------------------------------------------- the catalogue
CASES = [
    # --- task folders: rows and labels
    Case("csv row with more fields than its header",
         lambda tmp: folder_task(csv_folder(tmp, ".csv", "text,label\ngood film,1\ngood, long film,1\nbad film,0\n")),
         DataError, ("train.csv:3:", "the row has 3 fields but the header has 2", "quote fields")),
    Case("tsv row with more fields than its header",
         lambda tmp: folder_task(csv_folder(tmp, ".tsv", "text\tlabel\ngood film\t1\nbad\tfilm\t0\n")),
         DataError, ("train.tsv:3:", "3 fields but the header has 2", "a tab")),
    Case("csv row with fewer fields than its header",
         lambda tmp: folder_task(csv_folder(tmp, ".csv", "text,text_pair,label\na,b,1\nc,0\n")),
         DataError, ("train.csv:3:", "the row has 2 fields but the header has 3")),
    Case("JSON label true (inferred labels)",
         lambda tmp: folder_task(task_folder(tmp, train=rows(0, 1, True))),
         DataError, ("train.jsonl:3:", "label true is a JSON boolean")),
    Case("JSON label false (label names in meta.json)",
         lambda tmp: folder_task(task_folder(tmp, test=rows(0, False), meta={"label_names": ["neg", "pos"]})).load_split("test"),
         DataError, ("test.jsonl:2:", "label false is a JSON boolean", "class index")),
    Case("label outside 0..C-1 without label names",
         lambda tmp: folder_task(task_folder(tmp, train=rows(1, 2, 1, 2))),
         DataError, ("train.jsonl:2:", "label 2 is outside the valid range 0..1", "label_names in meta.json"),
         ("has 0 training examples",)),
    Case("label outside 0..C-1 with label names",
         lambda tmp: folder_task(task_folder(tmp, test=rows(0, 1, 2), meta={"label_names": ["neg", "pos"]})).load_split("test"),
         DataError, ("test.jsonl:3:", "label 2 is outside", "valid indices 0..1")),
    Case("test label unseen in the inferred labels",
         lambda tmp: folder_task(task_folder(tmp, test=rows(0, 5))).load_split("test"),
         DataError, ("test.jsonl:2:", "label 5 is outside", "valid indices 0..1")),
    Case("regression label nan",
         lambda tmp: folder_task(task_folder(tmp, test=[{"text": "a", "label": 0.5}, {"text": "b", "label": float("nan")}],
                                             meta={"task_type": "regression"})).load_split("test"),
         DataError, ("test.jsonl:2:", "not a finite number")),
    # --- task folders: meta.json
    Case("meta.json with a misspelt key",
         lambda tmp: folder_task(task_folder(tmp, meta={"lable_names": ["neg", "pos"]})),
         DataError, ("meta.json", "unknown key 'lable_names'", "did you mean 'label_names'?")),
    Case("meta.json pair as a string",
         lambda tmp: folder_task(task_folder(tmp, meta={"pair": "false"})),
         DataError, ("meta.json", "pair must be true or false")),
    Case("meta.json label name twice",
         lambda tmp: folder_task(task_folder(tmp, meta={"label_names": ["neg", "pos", "neg"]})),
         DataError, ("meta.json", "'neg' more than once")),
    Case("one-class task from meta.json",
         lambda tmp: folder_task(task_folder(tmp, "one_class_meta", meta={"label_names": ["only"]})),
         DataError, ("task 'one_class_meta' has only one class ('only'): a classifier needs two or more",)),
    Case("one-class task from its train file",
         lambda tmp: folder_task(task_folder(tmp, "one_class_rows", train=rows(1, 1, 1))),
         DataError, ("task 'one_class_rows' has only one class ('1')", "a classifier needs two or more")),
    # --- task paths
    Case("task path that does not exist",
         lambda tmp: get_task(str(tmp / "no_such_task")),
         DataError, ("task folder '{tmp}/no_such_task' does not exist",), ("unknown task",)),
    Case("relative task path that does not exist",
         lambda tmp: get_task("./no_such_task_folder"),
         DataError, ("task folder './no_such_task_folder' does not exist",), ("unknown task",)),
    Case("task path that is a file",
         lambda tmp: get_task(str(task_folder(tmp) / "train.jsonl")),
         DataError, ("'{tmp}/task/train.jsonl' is a file, not a task folder", "train.jsonl and test.jsonl",
                     "give its folder '{tmp}/task'")),
    Case("task folder given directly without a test file",
         lambda tmp: folder_task(task_folder(tmp, test=False)).load_split("test"),
         DataError, ("'{tmp}/task' has no test.jsonl, test.csv or test.tsv", "add the test file"),
         ("--data-dir", DATA_DIR_ENV)),
    # --- metrics
    Case("meta.json metric with a typo",
         lambda tmp: folder_task(task_folder(tmp, meta={"metric": "macro-f1"})),
         DataError, ("metric 'macro-f1' is not one of the known metrics", "macro_f1, weighted_f1", "did you mean 'macro_f1'")),
    Case("meta.json per-class F1 of an unknown class",
         lambda tmp: folder_task(task_folder(tmp, meta={"label_names": ["neg", "pos"], "metric": "f1:postive"})),
         DataError, ("metric 'f1:postive'", "'postive' is not one of the task's classes ['neg', 'pos']", "did you mean f1:pos")),
    Case("meta.json binary f1 on a three-class task",
         lambda tmp: folder_task(task_folder(tmp, train=rows(0, 1, 2), meta={"metric": "f1"})),
         DataError, ("3 classes", "use macro_f1, weighted_f1 or f1:<class name>")),
    Case("meta.json classification metric on a regression task",
         lambda tmp: folder_task(task_folder(tmp, train=rows(0.5, 1.5), meta={"task_type": "regression", "metric": "accuracy"})),
         DataError, ("metric 'accuracy' scores classes, but this is a regression task", "pearson or spearman")),
    Case("meta.json regression metric on a classification task",
         lambda tmp: folder_task(task_folder(tmp, meta={"metric": "spearman"})),
         DataError, ("metric 'spearman' scores regression outputs", "macro_f1")),
    Case("compute with an unknown metric",
         lambda tmp: metrics.compute("auc", [[0.0, 1.0]], [1]),
         RegistryError, ("metric 'auc' is not one of the known metrics", "balanced_accuracy")),
    Case("compute f1:<class> without class names",
         lambda tmp: metrics.compute("f1:pos", [[0.0, 1.0]], [1]),
         RegistryError, ("'pos' is not one of the class names", "label_names")),
    # --- alignment
    Case("lambda_align with no aligner and no source task",
         lambda tmp: check_alignment_inputs(alignment_cfg()),
         ConfigError, ("sggft.lambda_align=1 needs a source task and an aligner", "--aligner DIR", "source_task=NAME",
                       "sggft.lambda_align=0")),
    Case("lambda_align=0.5 with no aligner and no source task",
         lambda tmp: check_alignment_inputs(alignment_cfg("sggft.lambda_align=0.5")),
         ConfigError, ("sggft.lambda_align=0.5 needs",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(case.error) as info:
        case.act(tmp_path)
    msg = str(info.value)
    for phrase in case.phrases:
        assert phrase.format(tmp=tmp_path) in msg, msg
    for phrase in (*NEVER, *case.absent):
        assert phrase.format(tmp=tmp_path) not in msg, msg


# ----------------------------------------------------------------------------- configuration
CONFIG_CASES = [
    ("train.lr=inf", "train.lr: Input should be a finite number"),
    ("sggft.lambda_mag=inf", "sggft.lambda_mag: Input should be a finite number"),
    ("sggft.lambda_mag=nan", "sggft.lambda_mag: Input should be a finite number"),
    ("sggft.lambda_dir=.nan", "sggft.lambda_dir: Input should be a finite number"),
    ("sggft.kappa=-inf", "sggft.kappa: Input should be a finite number"),
    ("train.grad_clip=.inf", "train.grad_clip: Input should be a finite number"),
    ("model.lora.alpha=nan", "model.lora.alpha: Input should be a finite number"),
    ("meta.aligner.init_rho=nan", "meta.aligner.init_rho: Input should be a finite number"),
    ("seeds=[-1]", "seeds: seed -1 is out of range; seeds are integers from 0 to 2**32 - 1"),
    ("seeds=[13,4294967296]", "seed 4294967296 is out of range"),
    ("seeds=[13,13]", "seeds must be distinct"),
]


@pytest.mark.parametrize("override,phrase", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_value_is_a_clear_error(override, phrase):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert phrase in str(info.value) and "\n" not in str(info.value)


def _float_fields(model: type[BaseModel], prefix: str = ""):
    """Dotted paths of every float field of `model` and its sections."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        args = typing.get_args(ann)
        sub = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None:
            yield from _float_fields(sub, f"{prefix}{name}.")
        elif ann is float or float in args:
            yield f"{prefix}{name}"


FLOAT_FIELDS = sorted(_float_fields(RunConfig))


def test_every_float_section_is_covered():
    assert {"train.lr", "sggft.lambda_align", "meta.meta_lr", "meta.aligner.beta", "model.lora.dropout"} <= set(FLOAT_FIELDS)


@pytest.mark.parametrize("path", FLOAT_FIELDS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_no_float_field_takes_inf_or_nan(path, value):
    with pytest.raises(ConfigError, match=rf"{path.replace('.', '[.]')}: Input should be a finite number"):
        load_config(None, [f"{path}={value}"])


def test_seeds_at_the_edges_are_valid():
    assert load_config(None, ["seeds=[0,4294967295]"]).seeds == [0, 2**32 - 1]


def test_cli_refuses_a_negative_seed_before_loading_a_model(capsys):
    from sggft_meta.cli import main

    code = main(["finetune", "--task", "demo_news_topics", "--seeds", "-1", "--model", "no/such-model", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("sggft-meta: error:") and "seed -1 is out of range" in err


# ----------------------------------------------------------------------------- alignment inputs that are fine
@pytest.mark.parametrize("extra,kwargs", [
    (["source_task=demo_news_topics"], {}),  # the source's direction, no aligner
    (["aligner=gradvac"], {}),  # an aligner: its first training source is the default source task
    ([], {"source_task": "demo_news_topics"}),  # given by the caller rather than the config
    ([], {"aligner": object()}),
    (["method=finetune"], {}),  # plain fine-tuning has no alignment term
    (["sggft.lambda_align=0"], {}),
])
def test_alignment_inputs_that_are_fine(extra, kwargs):
    check_alignment_inputs(alignment_cfg(*extra), **kwargs)


def test_meta_training_config_stays_valid():
    # meta-training sets lambda_align=1 with its sources in meta.sources and no aligner or source task
    from sggft_meta.config import META_TRAIN_DEFAULTS

    cfg = load_config(None, ["meta.sources=[demo_news_topics,demo_entailment]"], base=META_TRAIN_DEFAULTS)
    assert cfg.sggft.lambda_align == 1.0 and cfg.aligner is None and cfg.source_task is None


# ----------------------------------------------------------------------------- where the data came from
def test_data_source_record(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_source_record(None) == {"dir": None, "from": "hub"}
    assert data_source_record(root) == {"dir": str(root.resolve()), "from": "option"}
    monkeypatch.setenv(DATA_DIR_ENV, str(root))
    assert data_source_record(None) == {"dir": str(root.resolve()), "from": f"env {DATA_DIR_ENV}"}
    assert data_source_record("") == {"dir": str(root.resolve()), "from": f"env {DATA_DIR_ENV}"}
    demo = get_task("demo_news_topics")
    assert data_source_record(None, demo) == {"dir": str(Path(demo.folder).resolve()), "from": "demo"}
    mine = folder_task(task_folder(tmp_path))
    assert data_source_record(root, mine) == {"dir": str((tmp_path / "task").resolve()), "from": "folder"}
    assert data_source_record(None, get_task("sst2"))["from"] == f"env {DATA_DIR_ENV}"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "gone"))
    with pytest.raises(DataError, match="does not exist"):
        data_source_record(None)


# ----------------------------------------------------------------------------- saved aligners
from sggft_meta.errors import CheckpointError  # noqa: E402


def non_finite_aligner(tmp: Path, value: float) -> Path:
    """A learned aligner saved with one non-finite weight: its checksum is valid, its weights are not."""
    import torch

    from sggft_meta.align import ALIGNERS, save_aligner

    aligner = ALIGNERS.get("learned")(hidden=4)
    with torch.no_grad():
        aligner.net[2].bias[1] = value
    return save_aligner(aligner, tmp / "aligner", sources=["demo_news_topics", "demo_entailment"])


def _load_aligner(path: Path):
    from sggft_meta.align import load_aligner

    return load_aligner(path)


def _aligner_from_pretrained(path: Path):
    from sggft_meta.align import Aligner

    return Aligner.from_pretrained(path)


ALIGNER_CASES = [
    Case("aligner weights NaN with a valid checksum",
         lambda tmp: _load_aligner(non_finite_aligner(tmp, float("nan"))),
         CheckpointError, ("{tmp}/aligner: tensor 'net.2.bias' in model.safetensors holds NaN or infinite values",
                           "diverged meta-training", "meta-train it again")),
    Case("aligner weights infinite with a valid checksum",
         lambda tmp: _aligner_from_pretrained(non_finite_aligner(tmp, float("-inf"))),
         CheckpointError, ("tensor 'net.2.bias' in model.safetensors holds NaN or infinite values",)),
]


@pytest.mark.parametrize("case", ALIGNER_CASES, ids=[c.id for c in ALIGNER_CASES])
def test_bad_saved_aligner_is_a_clear_error(case, tmp_path, monkeypatch):
    test_bad_input_is_a_clear_error(case, tmp_path, monkeypatch)


# ----------------------------------------------------------------------------- output locations and backbones
def _results_out(tmp: Path, name: str, *, overwrite: bool = False, make=None):
    """`sggft-meta finetune/adapt/evaluate --out` checked as the command line checks it, before any work."""
    from sggft_meta.cli import check_results_out

    if make is not None:
        make(tmp)
    return check_results_out(tmp / name, overwrite)


def _run_dir(tmp: Path, name: str, make=None):
    """`sggft-meta meta-train --out` checked as the command line checks it, before the backbone loads."""
    from sggft_meta.cli import check_run_dir

    if make is not None:
        make(tmp)
    return check_run_dir(tmp / name)


def _load_model(tmp: Path, name: str, make=None):
    from sggft_meta.config import ModelConfig
    from sggft_meta.model.loading import load_backbone

    if make is not None:
        make(tmp)
    return load_backbone(ModelConfig(name=name.format(tmp=tmp)))


def _finished_result(tmp: Path) -> None:
    (tmp / "run.json").write_text(json.dumps({"complete": True, "results": []}), encoding="utf-8")


OUTPUT_CASES = [
    Case("run --out naming a folder",
         lambda tmp: _results_out(tmp, "runs", make=lambda t: (t / "runs").mkdir()),
         DataError, ("--out {tmp}/runs is a folder", "give a file name for the results")),
    Case("run --out under a file",
         lambda tmp: _results_out(tmp, "notes.txt/run.json", make=lambda t: (t / "notes.txt").write_text("x")),
         DataError, ("--out {tmp}/notes.txt/run.json", "{tmp}/notes.txt is a file, not a folder", "choose another location")),
    Case("run --out holding a finished result, no --overwrite",
         lambda tmp: _results_out(tmp, "run.json", make=_finished_result),
         DataError, ("--out {tmp}/run.json already holds a finished result", "pass --overwrite to replace it")),
    Case("run --out holding some other file, no --overwrite",
         lambda tmp: _results_out(tmp, "run.json", make=lambda t: (t / "run.json").write_text("notes")),
         DataError, ("--out {tmp}/run.json already exists", "pass --overwrite"), ("finished result",)),
    Case("meta-train --out naming a file",
         lambda tmp: _run_dir(tmp, "run", make=lambda t: (t / "run").write_text("x")),
         CheckpointError, ("meta-train --out {tmp}/run is a file", "choose a folder name")),
    Case("meta-train --out under a file",
         lambda tmp: _run_dir(tmp, "notes.txt/run", make=lambda t: (t / "notes.txt").write_text("x")),
         DataError, ("{tmp}/notes.txt is a file, not a folder",)),
    Case("model name one letter off a registered backbone",
         lambda tmp: _load_model(tmp, "minlm"),
         SggftError, ("cannot load model 'minlm'", "did you mean 'minilm'?", "minilm, mpnet, smollm2")),
    Case("model folder without config.json",
         lambda tmp: _load_model(tmp, "{tmp}/weights", make=lambda t: (t / "weights").mkdir()),
         SggftError, ("{tmp}/weights is a folder but not a model (no config.json)",
                      "give a model folder or one of minilm, mpnet, smollm2"), ("no local folder",)),
]


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=[c.id for c in OUTPUT_CASES])
def test_bad_output_or_model_is_a_clear_error(case, tmp_path, monkeypatch):
    test_bad_input_is_a_clear_error(case, tmp_path, monkeypatch)


def test_run_out_that_may_be_written(tmp_path):
    from sggft_meta.cli import check_results_out

    assert check_results_out(tmp_path / "new" / "deeper" / "run.json") == tmp_path / "new" / "deeper" / "run.json"
    _finished_result(tmp_path)
    assert check_results_out(tmp_path / "run.json", overwrite=True) == tmp_path / "run.json"
    assert not (tmp_path / "new").exists()  # nothing is created by the check
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no probe file left behind


def test_the_index_names_tests_that_exist():
    """Every `file.py::test_name` in this module's docstring is a test function of that file."""
    import re

    here = Path(__file__).parent
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", __doc__)
    assert len(named) >= 18
    for file, test in named:
        assert re.search(rf"^def {test}\(", (here / file).read_text(encoding="utf-8"), flags=re.M), f"{file}::{test}"
