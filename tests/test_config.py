"""Run configuration: defaults, YAML files, key=value overrides, and errors naming the field."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import copy
from pathlib import Path

import pytest
import yaml

from sggft_meta import ConfigError, RunConfig, SggftError, load_config
from sggft_meta.config import dump_config, parse_override


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ defaults
def test_defaults():
    cfg = RunConfig()
    assert cfg.seeds == [13, 21, 42, 87, 100]
    assert cfg.shots == 16
    assert cfg.task == "sst2"
    assert cfg.model.name == "minilm"
    assert cfg.model.adapt == "lora"
    assert cfg.model.lora.r == 8 and cfg.model.lora.alpha == 16.0 and cfg.model.lora.targets is None
    assert cfg.train.lr == 1e-3 and cfg.train.max_steps == 150 and cfg.train.optimizer == "adamw"
    assert cfg.data.dir is None and cfg.data.max_length == 128
    assert cfg.out is None


def test_default_seeds_are_not_shared_between_instances():
    a, b = RunConfig(), RunConfig()
    a.seeds.append(7)
    assert b.seeds == [13, 21, 42, 87, 100]
    assert RunConfig().seeds == [13, 21, 42, 87, 100]


def test_load_config_without_file_or_overrides_is_default():
    assert load_config() == RunConfig()


# ------------------------------------------------------------------ YAML files
def test_yaml_file_merges_nested_sections(tmp_path):
    path = write_yaml(
        tmp_path / "run.yaml",
        "task: trec\n"
        "shots: 8\n"
        "train:\n  lr: 0.0005\n  max_steps: 40\n"
        "model:\n  adapt: full\n  lora:\n    r: 4\n",
    )
    cfg = load_config(path)
    assert cfg.task == "trec" and cfg.shots == 8
    assert cfg.train.lr == 5e-4 and cfg.train.max_steps == 40
    # fields of the same sections not in the file keep their defaults
    assert cfg.train.head_lr == 1e-2 and cfg.train.batch_size == 8
    assert cfg.model.adapt == "full" and cfg.model.name == "minilm"
    assert cfg.model.lora.r == 4 and cfg.model.lora.alpha == 16.0
    assert cfg.seeds == [13, 21, 42, 87, 100]


def test_yaml_file_merges_into_base_sections(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "train:\n  lr: 0.002\n")
    cfg = load_config(path, base={"shots": 4, "train": {"max_steps": 10, "lr": 0.1}})
    assert cfg.shots == 4
    assert cfg.train.max_steps == 10  # from base, same section as the file's lr
    assert cfg.train.lr == 0.002  # the file wins over base


def test_empty_yaml_file_gives_defaults(tmp_path):
    path = write_yaml(tmp_path / "empty.yaml", "")
    assert load_config(path) == RunConfig()


def test_missing_yaml_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)


def test_yaml_top_level_list(tmp_path):
    path = write_yaml(tmp_path / "list.yaml", "- shots: 4\n- task: trec\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_invalid_yaml(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", "train: {lr: [0.1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_unknown_field_in_yaml_file(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "model:\n  lora:\n    rank: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "model.lora.rank: unknown field" in str(info.value)


# ------------------------------------------------------------------ overrides
def test_overrides_are_typed_through_yaml():
    cfg = load_config(overrides=["train.lr=5e-4", "seeds=[13,42]", "model.lora.targets=[query,value]",
                                 "shots=4", "progress=false", "train.grad_clip=null"])
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 5e-4
    assert cfg.seeds == [13, 42]
    assert cfg.model.lora.targets == ["query", "value"]
    assert cfg.shots == 4 and isinstance(cfg.shots, int)
    assert cfg.progress is False
    assert cfg.train.grad_clip is None


@pytest.mark.parametrize(
    "item, key, value",
    [
        ("train.lr=5e-4", ["train", "lr"], "5e-4"),  # PyYAML reads 5e-4 as a string; pydantic makes it a float
        ("train.lr=0.0005", ["train", "lr"], 0.0005),
        ("seeds=[13,42]", ["seeds"], [13, 42]),
        ("model.lora.targets=[query,value]", ["model", "lora", "targets"], ["query", "value"]),
        ("task=a=b", ["task"], "a=b"),  # only the first '=' splits
        ("out=", ["out"], None),
    ],
)
def test_parse_override(item, key, value):
    assert parse_override(item) == (key, value)


def test_override_wins_over_file(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "shots: 8\ntrain:\n  lr: 0.01\n  max_steps: 40\n")
    cfg = load_config(path, ["train.lr=5e-4", "shots=2"])
    assert cfg.train.lr == 5e-4 and cfg.shots == 2
    assert cfg.train.max_steps == 40  # the file's other value in the same section survives


def test_later_override_wins():
    cfg = load_config(overrides=["shots=2", "shots=32"])
    assert cfg.shots == 32


def test_override_wins_over_base():
    base = {"shots": 8, "train": {"max_steps": 60}}
    cfg = load_config(overrides=["train.max_steps=5"], base=base)
    assert cfg.shots == 8 and cfg.train.max_steps == 5


def test_load_config_does_not_mutate_base(tmp_path):
    base = {"shots": 8, "train": {"max_steps": 60}}
    before = copy.deepcopy(base)
    path = write_yaml(tmp_path / "run.yaml", "train:\n  lr: 0.01\n")
    load_config(path, ["train.max_steps=5"], base=base)
    assert base == before  # fails: base == {'shots': 8, 'train': {'max_steps': 5, 'lr': 0.01}}


# ------------------------------------------------------------------ errors
def test_unknown_top_level_field():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["shot=4"])
    msg = str(info.value)
    assert "shot: unknown field" in msg


def test_unknown_nested_field_names_the_path():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["train.learning_rate=1"])
    msg = str(info.value)
    assert "train.learning_rate" in msg and "unknown field" in msg
    assert msg.startswith("invalid configuration: train.learning_rate: unknown field")


def test_wrong_type_names_the_path_and_value():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["train.lr=abc"])
    msg = str(info.value)
    assert "train.lr" in msg and "valid number" in msg and "'abc'" in msg


def test_literal_field_wrong_choice():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["model.adapt=prefix"])
    msg = str(info.value)
    assert "model.adapt" in msg and "'prefix'" in msg


@pytest.mark.parametrize(
    "item, path",
    [
        ("train.max_steps=0", "train.max_steps"),
        ("train.max_steps=-3", "train.max_steps"),
        ("shots=0", "shots"),
        ("shots=-1", "shots"),
        ("train.lr=0", "train.lr"),
        ("train.lr=-1e-3", "train.lr"),
        ("model.lora.r=0", "model.lora.r"),
        ("model.lora.dropout=1.0", "model.lora.dropout"),
        ("data.max_length=4", "data.max_length"),
        ("seeds=[]", "seeds"),
    ],
)
def test_out_of_range_values_name_the_path(item, path):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[item])
    assert str(info.value).startswith(f"invalid configuration: {path}: ")


def test_several_errors_are_all_reported():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["shots=0", "train.lr=abc"])
    msg = str(info.value)
    assert "shots:" in msg and "train.lr:" in msg


def test_duplicate_seeds():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["seeds=[13,42,13]"])
    msg = str(info.value)
    assert "seeds" in msg and "distinct" in msg


def test_duplicate_seeds_in_constructor_and_on_assignment():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RunConfig(seeds=[1, 1])
    cfg = RunConfig()
    with pytest.raises(ValidationError):  # validate_assignment=True
        cfg.seeds = [5, 5]
    assert cfg.seeds == [13, 21, 42, 87, 100]


@pytest.mark.parametrize("item", ["train.lr", "shots", ""])
def test_override_without_equals(item):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[item])
    assert "not of the form key=value" in str(info.value)


@pytest.mark.parametrize("item", ["=3", "train.=3", ".lr=3", "train..lr=3"])
def test_override_with_empty_key(item):
    with pytest.raises(ConfigError, match="empty key"):
        load_config(overrides=[item])


def test_override_into_a_scalar_is_an_error():
    with pytest.raises(ConfigError, match="train is not a section"):
        load_config(overrides=["train=3", "train.lr=1"])


def test_config_errors_are_sggft_errors_and_value_errors():
    with pytest.raises(SggftError):
        load_config(overrides=["nope=1"])
    with pytest.raises(ValueError):
        load_config(overrides=["nope=1"])


# ------------------------------------------------------------------ dump
def test_dump_config_round_trips(tmp_path):
    cfg = load_config(overrides=[
        "task=trec", "shots=4", "seeds=[21,87]", "train.lr=5e-4", "train.grad_clip=null",
        "model.adapt=full", "model.lora.targets=[query,value]", f"data.dir={tmp_path}",
        f"out={tmp_path / 'results.json'}", "progress=false",
    ])
    text = dump_config(cfg)
    assert isinstance(yaml.safe_load(text), dict)
    path = write_yaml(tmp_path / "dumped.yaml", text)
    again = load_config(path)
    assert again == cfg
    assert again.data.dir == tmp_path and isinstance(again.data.dir, Path)
    assert again.model.lora.targets == ["query", "value"]
    assert dump_config(again) == text


def test_dump_config_of_defaults_round_trips(tmp_path):
    path = write_yaml(tmp_path / "defaults.yaml", dump_config(RunConfig()))
    assert load_config(path) == RunConfig()
