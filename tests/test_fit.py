"""`fit`: every input form, the dev split rule and its message, methods, and errors before any model loads."""

from __future__ import annotations

import numpy as np
import pytest

from sggft_meta.config import FitConfig, SggftConfig, TrainConfig
from sggft_meta.data.inputs import training_data
from sggft_meta.errors import ConfigError, DataError, RegistryError
from sggft_meta.fitting import carve_dev, fit, fit_config

POS = ["good", "great", "fine", "lovely", "superb", "nice"]
NEG = ["bad", "awful", "poor", "sad", "grim", "dull"]


def texts_labels(n_per_class: int):
    texts, labels = [], []
    for i in range(n_per_class):
        texts += [f"the film was {POS[i % 6]} number {i}", f"the film was {NEG[i % 6]} number {i}"]
        labels += ["positive", "negative"]
    return texts, labels


def quick(**train):
    return TrainConfig(**{"max_steps": 20, "eval_every": 5, **train})


# --------------------------------------------------------------------- the dev split rule
def test_carve_dev_holds_out_a_quarter_of_each_class_disjointly():
    labels = np.array([0] * 12 + [1] * 8 + [2] * 4)
    train, dev, note = carve_dev(labels, ("a", "b", "c"), FitConfig())
    assert set(train).isdisjoint(dev) and len(train) + len(dev) == len(labels)
    assert [int((labels[dev] == c).sum()) for c in range(3)] == [3, 2, 1]
    assert note.startswith(f"early stopping on a dev split of {len(dev)} held out")


def test_carve_dev_needs_enough_examples_in_every_class():
    labels = np.array([0] * 10 + [1] * 3)
    train, dev, note = carve_dev(labels, ("a", "b"), FitConfig())
    assert len(dev) == 0 and len(train) == 13
    assert "no early stopping" in note and "'b' has 3 examples" in note
    off = FitConfig(dev={"enabled": False})
    assert len(carve_dev(np.array([0] * 10 + [1] * 10), ("a", "b"), off)[1]) == 0


def test_carve_dev_caps_the_dev_size_and_depends_on_the_seed():
    labels = np.array([0] * 600 + [1] * 400)
    _, dev, _ = carve_dev(labels, ("a", "b"), FitConfig())
    assert 250 <= len(dev) <= 258  # max_size 256, shared out by class size
    _, dev2, _ = carve_dev(labels, ("a", "b"), FitConfig(seed=1))
    assert set(dev) != set(dev2)


# --------------------------------------------------------------------- inputs
def test_training_data_from_lists_dataset_dataframe_and_dict():
    import pandas as pd
    from datasets import ClassLabel, Dataset, Features, Value

    texts, labels = texts_labels(4)
    task, split = training_data(texts, labels=labels)
    assert task.label_names == ("negative", "positive") and split.labels.tolist() == [1, 0] * 4
    ids = [1, 0] * 4
    ds = Dataset.from_dict({"text": texts, "label": ids},
                           features=Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}))
    task, split = training_data(ds)
    assert task.label_names == ("neg", "pos") and split.labels.tolist() == ids
    task, split = training_data(pd.DataFrame({"text": texts, "label": labels}))
    assert task.label_names == ("negative", "positive")
    task, split = training_data({"text": texts, "label": ids}, label_names=["bad", "good"])
    assert task.label_names == ("bad", "good") and split.pairs is None
    task, split = training_data(pd.DataFrame({"text": texts, "text_pair": texts[::-1], "label": ids}))
    assert task.pair and split.pairs == tuple(texts[::-1]) and task.label_names == ("0", "1")
    task, split = training_data([(t, t) for t in texts], labels=ids)
    assert task.pair


@pytest.mark.parametrize("data, kwargs, message", [
    (["a", "b"], {"labels": ["x"]}, "2 texts but 1 labels"),
    (["a", "b"], {"labels": ["x", "x"]}, "two or more labels"),
    (["a", "b", "c"], {"labels": ["x", "y", "z"], "label_names": ["x", "y"]}, "'z' is not one of the label names"),
    (["a", "b"], {"labels": [0, 5], "label_names": ["x", "y"]}, "label 5 is outside"),
    (["a", "b"], {"labels": [0, "y"]}, "mix names and class indices"),
    (["a", "b"], {"labels": [0.5, 1.0]}, "neither a label name nor a class index"),
    (["a", ""], {"labels": [0, 1]}, "row 1: 'text' must be a non-empty string"),
    (["a", "b", "c"], {"labels": ["x", "y", "x"], "label_names": ["x", "y", "w"]}, "no example of ['w']"),
    ({"sentence": ["a"], "label": [0]}, {}, "needs the columns 'text' and 'label'"),
    (42, {}, "cannot read training data of type int"),
])
def test_bad_inputs_fail_with_one_line(data, kwargs, message):
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        training_data(data, **kwargs)
    assert "\n" not in str(e.value)


def test_errors_come_before_any_model_loads(monkeypatch, tiny_bert_dir):
    import sggft_meta.model.loading as loading

    def refuse(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(loading, "load_backbone", refuse)
    texts, labels = texts_labels(4)
    with pytest.raises(DataError):
        fit(texts, labels=labels[:-1], model=str(tiny_bert_dir))
    with pytest.raises(ConfigError, match="method='maml'"):
        fit(texts, labels=labels, method="maml")
    with pytest.raises(ConfigError, match="an aligner guides the SGGFT inner loop"):
        fit(texts, labels=labels, method="finetune", aligner="gradvac", model=str(tiny_bert_dir))
    with pytest.raises(RegistryError):
        fit(texts, labels=labels, source_task="no_such_task", model=str(tiny_bert_dir))
    with pytest.raises(ConfigError, match="train.multitask"):
        fit(texts, labels=labels, train=TrainConfig(multitask="sum"), model=str(tiny_bert_dir))
    with pytest.raises(ConfigError, match="lambda_align=0.5 needs a source task"):
        fit(texts, labels=labels, method="sggft", sggft=SggftConfig(lambda_align=0.5), model=str(tiny_bert_dir))
    with pytest.raises(ConfigError, match="train.lr"):
        fit(texts, labels=labels, config={"train": {"lr": -1}})


def test_fit_config_keeps_unset_fields_unset():
    cfg = fit_config(None, sggft=SggftConfig(lambda_dir=0.5), model="smollm2", aligner="gradvac")
    assert cfg.method == "sggft" and cfg.model.name == "smollm2"
    assert cfg.sggft.model_fields_set == {"lambda_dir"}  # mode left to the aligner's training record
    assert fit_config(FitConfig(method="sggft"), method="finetune").method == "finetune"


# --------------------------------------------------------------------- training
def test_fit_on_lists_early_stops_on_a_dev_split_and_says_so(tiny_bert_dir, capsys):
    texts, labels = texts_labels(8)
    model = fit(texts, labels=labels, model=str(tiny_bert_dir), train=quick(), seed=3)
    err = capsys.readouterr().err
    info = model.fit_info
    assert info["n_dev"] == 4 and info["n_train"] == 12 and info["early_stopping"]
    assert "early stopping on a dev split of 4 held out" in err and info["note"] in err
    assert model.labels == ("negative", "positive") and model.fields == ("text",)
    proba = model.predict_proba(["the film was good number 99", "the film was awful number 98"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(1), 1)
    assert model.predict(["the film was good number 99"])[0] in model.labels
    assert model.settings["method"] == "finetune" and model.settings["train"]["max_steps"] == 20


def test_fit_with_few_examples_runs_fixed_steps_and_says_so(tiny_bert_dir, capsys):
    texts, labels = texts_labels(3)
    model = fit(texts, labels=labels, model=str(tiny_bert_dir), train=quick(max_steps=7))
    err = capsys.readouterr().err
    assert "no early stopping" in err and "train.max_steps=7" in err
    assert model.fit_info["steps"] == 7 and model.fit_info["n_dev"] == 0 and not model.fit_info["early_stopping"]
    quiet = fit(texts, labels=labels, model=str(tiny_bert_dir), train=quick(max_steps=2), progress=False)
    assert capsys.readouterr().err == "" and "no early stopping" in quiet.fit_info["note"]


def test_fit_on_a_task_folder_dataset_and_dataframe(tiny_bert_dir, polarity_folder):
    import pandas as pd
    from datasets import Dataset

    model = fit(str(polarity_folder), model=str(tiny_bert_dir), train=quick(), progress=False)
    assert model.labels == ("negative", "positive") and model.fit_info["n_examples"] == 80
    texts, labels = texts_labels(4)
    for data in (Dataset.from_dict({"text": texts, "label": labels}), pd.DataFrame({"text": texts, "label": labels})):
        m = fit(data, model=str(tiny_bert_dir), train=quick(), progress=False)
        assert m.labels == ("negative", "positive") and type(data).__name__ in m.fit_info["data"]


def test_fit_pairs_and_pair_predictions(tiny_bert_dir):
    texts, labels = texts_labels(4)
    model = fit([(t, "is it good?") for t in texts], labels=labels, model=str(tiny_bert_dir), train=quick(), progress=False)
    assert model.fields == ("text", "text_pair")
    a = model.predict_proba([("the film was good", "is it good?")])
    b = model.predict_proba([{"text": "the film was good", "text_pair": "is it good?"}])
    assert np.allclose(a, b)
    with pytest.raises(DataError, match="classifies text pairs"):
        model.predict(["the film was good"])


def test_fit_sggft_with_a_source_task(tiny_bert_dir):
    texts, labels = texts_labels(6)
    model = fit(texts, labels=labels, model=str(tiny_bert_dir), method="sggft", sggft=SggftConfig(mode="surgery"),
                source_task="demo_restaurant_reviews", train=quick(max_steps=6), progress=False)
    assert model.fit_info["method"] == "sggft" and model.fit_info["source_task"] == "demo_restaurant_reviews"
    assert model.settings["sggft"]["mode"] == "surgery"
    with pytest.raises(ConfigError, match="is the target task itself"):
        fit("demo_restaurant_reviews", source_task="demo_restaurant_reviews", model=str(tiny_bert_dir))
