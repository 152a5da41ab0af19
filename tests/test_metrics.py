"""Task metrics against hand-computed values."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
import warnings

import numpy as np
import pytest

from sggft_meta import metrics
from sggft_meta.metrics import METRIC_FUNCTIONS, accuracy, compute, f1, mcc, pearson
from sggft_meta.task import METRICS


def arr(*values):
    return np.array(values)


# pred = [1, 1, 0, 1, 0], gold = [1, 0, 1, 1, 0]
#   index:  0    1    2    3    4
#           TP   FP   FN   TP   TN   -> TP=2, FP=1, FN=1, TN=1
PRED = arr(1, 1, 0, 1, 0)
GOLD = arr(1, 0, 1, 1, 0)


def test_every_task_metric_has_a_function():
    assert set(METRIC_FUNCTIONS) == set(METRICS)


# ------------------------------------------------------------------ accuracy
def test_accuracy_hand_computed():
    # matches at indices 0, 3, 4 -> 3 / 5
    assert accuracy(PRED, GOLD) == pytest.approx(0.6)
    # [1,0,1,1] vs [1,0,0,1]: 3 of 4 agree
    assert accuracy(arr(1, 0, 1, 1), arr(1, 0, 0, 1)) == 0.75
    # multi-class: [2,0,1,2,1,0] vs [2,1,1,0,1,0]: indices 0,2,4,5 agree -> 4/6
    assert accuracy(arr(2, 0, 1, 2, 1, 0), arr(2, 1, 1, 0, 1, 0)) == pytest.approx(2 / 3)
    assert accuracy(arr(0, 1), arr(0, 1)) == 1.0
    assert accuracy(arr(0, 1), arr(1, 0)) == 0.0
    assert type(accuracy(PRED, GOLD)) is float


# ------------------------------------------------------------------ f1
def test_f1_hand_computed():
    # TP=2, FP=1, FN=1 -> 2*2 / (2*2 + 1 + 1) = 4/6
    assert f1(PRED, GOLD) == pytest.approx(2 / 3)
    # [1,1,1,1] vs [1,0,0,0]: TP=1, FP=3, FN=0 -> 2 / (2 + 3) = 0.4
    assert f1(arr(1, 1, 1, 1), arr(1, 0, 0, 0)) == pytest.approx(0.4)
    # [1,0,0,0] vs [1,1,1,0]: TP=1, FP=0, FN=2 -> 2 / (2 + 2) = 0.5
    assert f1(arr(1, 0, 0, 0), arr(1, 1, 1, 0)) == pytest.approx(0.5)
    assert f1(arr(1, 0, 1), arr(1, 0, 1)) == 1.0
    assert type(f1(PRED, GOLD)) is float


def test_f1_is_of_class_one_not_macro():
    # class 0 is predicted perfectly, class 1 never: F1(class 1) = 0, whatever class 0 does
    assert f1(arr(0, 0, 0, 0), arr(0, 0, 0, 1)) == 0.0
    # swapping which class is "positive" changes the score: F1(1) of the flipped arrays
    # pred [0,0,1,0,1], gold [0,1,0,0,1]: TP=1 (idx4), FP=1 (idx2), FN=1 (idx1) -> 2/4
    assert f1(1 - PRED, 1 - GOLD) == pytest.approx(0.5)


def test_f1_without_true_positives_is_zero():
    assert f1(arr(0, 0), arr(0, 0)) == 0.0  # no positives anywhere
    assert f1(arr(1, 1), arr(0, 0)) == 0.0  # only false positives


# ------------------------------------------------------------------ mcc
def test_mcc_hand_computed():
    # TP=2, TN=1, FP=1, FN=1 -> (2*1 - 1*1) / sqrt((2+1)(2+1)(1+1)(1+1)) = 1 / sqrt(36) = 1/6
    assert mcc(PRED, GOLD) == pytest.approx(1 / 6)
    # [1,0,0,1] vs [1,0,1,1]: TP=2, TN=1, FP=0, FN=1 -> 2 / sqrt(2*3*1*2) = 2/sqrt(12)
    assert mcc(arr(1, 0, 0, 1), arr(1, 0, 1, 1)) == pytest.approx(2 / math.sqrt(12))
    assert mcc(arr(1, 0, 1, 0), arr(1, 0, 1, 0)) == pytest.approx(1.0)
    assert mcc(arr(0, 1, 0, 1), arr(1, 0, 1, 0)) == pytest.approx(-1.0)
    # TP=1, TN=1, FP=1, FN=1 -> (1 - 1) / 4 = 0
    assert mcc(arr(1, 1, 0, 0), arr(1, 0, 1, 0)) == 0.0
    assert type(mcc(PRED, GOLD)) is float


@pytest.mark.parametrize(
    "pred, gold",
    [
        (arr(1, 1, 1, 1), arr(1, 0, 1, 0)),  # nothing predicted 0: TN+FN = 0
        (arr(0, 0, 0, 0), arr(1, 0, 1, 0)),  # nothing predicted 1: TP+FP = 0
        (arr(1, 0, 1, 0), arr(0, 0, 0, 0)),  # gold has no 1: TP+FN = 0
        (arr(1, 0, 1, 0), arr(1, 1, 1, 1)),  # gold has no 0: TN+FP = 0
        (arr(1, 1), arr(1, 1)),  # all correct but one class only
    ],
)
def test_mcc_degenerate_is_zero(pred, gold):
    assert mcc(pred, gold) == 0.0


# ------------------------------------------------------------------ pearson
def test_pearson_hand_computed():
    # pred [1,2,3] (mean 2), gold [1,2,4] (mean 7/3)
    # deviations: p = [-1, 0, 1], g = [-4/3, -1/3, 5/3]
    # sum p*g = 4/3 + 0 + 5/3 = 3; sum p^2 = 2; sum g^2 = (16 + 1 + 25)/9 = 14/3
    # r = 3 / sqrt(2 * 14/3) = 3 / sqrt(28/3) = sqrt(27/28)
    assert pearson(arr(1, 2, 3), arr(1, 2, 4)) == pytest.approx(math.sqrt(27 / 28))
    assert pearson(arr(1.0, 2.0, 3.0), arr(2.0, 4.0, 6.0)) == pytest.approx(1.0)
    assert pearson(arr(1.0, 2.0, 3.0), arr(3.0, 2.0, 1.0)) == pytest.approx(-1.0)
    # p = [-1, 1, -1, 1] around 0, g = [1, 1, -1, -1] around 0 -> sum p*g = -1+1+1-1 = 0
    assert pearson(arr(-1, 1, -1, 1), arr(1, 1, -1, -1)) == pytest.approx(0.0, abs=1e-12)
    assert type(pearson(arr(1, 2, 3), arr(1, 2, 4))) is float


def test_pearson_is_computed_in_float64():
    pred = np.array([1, 2, 3], dtype=np.float32)
    gold = np.array([1, 2, 4], dtype=np.float16)
    assert pearson(pred, gold) == pytest.approx(math.sqrt(27 / 28), abs=1e-12)


@pytest.mark.parametrize(
    "pred, gold",
    [
        (arr(2.0, 2.0, 2.0), arr(1.0, 2.0, 3.0)),  # constant predictions
        (arr(1.0, 2.0, 3.0), arr(0.5, 0.5, 0.5)),  # constant gold
        (arr(1.0), arr(4.0)),  # a single pair
    ],
)
def test_pearson_degenerate_is_zero(pred, gold):
    assert pearson(pred, gold) == 0.0


# ------------------------------------------------------------------ compute
LOGITS = np.array([[0.1, 0.9], [2.0, 1.0], [0.3, 0.2], [0.0, 5.0]])  # argmax -> [1, 0, 0, 1]
LOGIT_GOLD = arr(1, 0, 1, 1)  # TP=2 (idx 0,3), TN=1 (idx 1), FN=1 (idx 2), FP=0


def test_compute_takes_argmax_of_logits():
    assert compute("accuracy", LOGITS, LOGIT_GOLD) == 0.75  # 3 of 4
    assert compute("f1", LOGITS, LOGIT_GOLD) == pytest.approx(0.8)  # 4 / (4 + 0 + 1)
    assert compute("mcc", LOGITS, LOGIT_GOLD) == pytest.approx(2 / math.sqrt(12))  # (2*1 - 0) / sqrt(2*3*1*2)


def test_compute_multiclass_logits():
    logits = np.array([[5.0, 0.0, 1.0], [0.0, 0.0, 3.0], [0.0, 2.0, 1.0], [1.0, 0.5, 0.0]])  # argmax [0, 2, 1, 0]
    assert compute("accuracy", logits, arr(0, 2, 2, 1)) == 0.5


def test_compute_accepts_class_ids():
    assert compute("accuracy", arr(1, 0, 0, 1), LOGIT_GOLD) == 0.75


def test_compute_regression_column_uses_pearson():
    outputs = np.array([[1.0], [2.0], [3.0]])  # [N, 1]
    assert compute("pearson", outputs, arr(1.0, 2.0, 4.0)) == pytest.approx(math.sqrt(27 / 28))
    assert compute("pearson", outputs[:, 0], arr(1.0, 2.0, 4.0)) == pytest.approx(math.sqrt(27 / 28))  # [N]
    # no argmax: the argmax of an [N, 1] column would be all zeros, which would score 0.0
    assert compute("pearson", np.array([[3.0], [1.0], [2.0]]), arr(3.0, 1.0, 2.0)) == pytest.approx(1.0)


def test_compute_accepts_lists():
    assert compute("accuracy", [[0.0, 1.0], [1.0, 0.0]], [1, 1]) == 0.5


def test_compute_unknown_metric():
    with pytest.raises(KeyError):
        compute("auc", LOGITS, LOGIT_GOLD)


def test_module_exports():
    assert metrics.METRIC_FUNCTIONS["pearson"] is pearson


# ------------------------------------------------------------------ against scikit-learn / scipy
# scikit-learn and scipy are in the `test` extra; without them only these reference tests skip
try:
    import scipy.stats as scipy_stats
    import sklearn.metrics as sk_metrics
except ImportError:  # pragma: no cover
    scipy_stats = sk_metrics = None
needs_reference = pytest.mark.skipif(sk_metrics is None, reason="scikit-learn / scipy not installed")

# three classes; class 2 is never predicted, class 1 is over-predicted
GOLD3 = arr(0, 0, 0, 1, 1, 2, 2, 2, 2, 1)
PRED3 = arr(0, 1, 0, 1, 1, 1, 0, 1, 0, 1)
# two classes, unbalanced
GOLD2 = arr(1, 1, 1, 1, 1, 1, 0, 0, 1, 0)
PRED2 = arr(1, 0, 1, 1, 1, 1, 1, 0, 0, 0)

SKLEARN = {} if sk_metrics is None else {
    "accuracy": sk_metrics.accuracy_score,
    "macro_f1": lambda y, p: sk_metrics.f1_score(y, p, average="macro"),
    "weighted_f1": lambda y, p: sk_metrics.f1_score(y, p, average="weighted"),
    "balanced_accuracy": sk_metrics.balanced_accuracy_score,
    "mcc": sk_metrics.matthews_corrcoef,
}


@needs_reference
@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "weighted_f1", "balanced_accuracy", "mcc"])
@pytest.mark.parametrize("pred,gold", [(PRED3, GOLD3), (PRED2, GOLD2), (arr(0, 0, 0, 0), arr(0, 1, 0, 1)),
                                       (arr(2, 2, 0, 1), arr(0, 1, 1, 1))], ids=["3class", "2class", "one-predicted", "extra-pred"])
def test_classification_metrics_match_sklearn(name, pred, gold):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns of predicted classes that are not in gold
        expected = float(SKLEARN[name](gold, pred))
    assert compute(name, pred, gold) == pytest.approx(expected, abs=1e-12)
    assert type(compute(name, pred, gold)) is float


@needs_reference
def test_f1_matches_sklearn_binary():
    assert compute("f1", PRED2, GOLD2) == pytest.approx(sk_metrics.f1_score(GOLD2, PRED2), abs=1e-12)


@needs_reference
@pytest.mark.parametrize("index", [0, 1, 2])
def test_class_f1_matches_sklearn_per_class(index):
    names = ("neg", "mid", "pos")
    expected = sk_metrics.f1_score(GOLD3, PRED3, labels=[index], average="macro")
    assert compute(f"f1:{names[index]}", PRED3, GOLD3, label_names=names) == pytest.approx(expected, abs=1e-12)
    # the task's own metric carries its class names
    assert compute(metrics.check_metric(f"f1:{names[index]}", names), PRED3, GOLD3) == pytest.approx(expected, abs=1e-12)
    assert metrics.class_f1(PRED3, GOLD3, 2) == 0.0  # never predicted


def test_class_f1_of_a_class_in_no_row_is_zero():
    assert compute("f1:pos", arr(0, 1), arr(1, 0), label_names=("neg", "mid", "pos")) == 0.0


@needs_reference
@pytest.mark.parametrize("pred,gold", [
    (arr(1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0), arr(2.0, 1.0, 3.0, 3.0, 4.0, 6.0, 6.0)),  # ties on both sides
    (arr(0.1, 0.4, 0.2, 0.9, 0.3), arr(1.0, 3.0, 2.0, 5.0, 4.0)),
    (arr(3.0, 3.0, 1.0, 2.0), arr(1.0, 2.0, 3.0, 4.0)),
])
def test_spearman_and_pearson_match_scipy(pred, gold):
    assert compute("spearman", pred, gold) == pytest.approx(scipy_stats.spearmanr(pred, gold).statistic, abs=1e-12)
    assert compute("spearman", pred[:, None], gold) == pytest.approx(scipy_stats.spearmanr(pred, gold).statistic, abs=1e-12)
    assert compute("pearson", pred, gold) == pytest.approx(scipy_stats.pearsonr(pred, gold).statistic, abs=1e-12)


def test_spearman_degenerate_is_zero():
    assert metrics.spearman(arr(1.0, 1.0, 1.0), arr(1.0, 2.0, 3.0)) == 0.0


@needs_reference
def test_average_ranks_match_scipy():
    x = arr(3.0, 1.0, 3.0, 2.0, 3.0, 1.0)
    np.testing.assert_allclose(metrics._average_ranks(x), scipy_stats.rankdata(x))


def test_metric_names_are_checked_against_the_task():
    assert metrics.check_metric("macro_f1", ("a", "b", "c")) == "macro_f1"
    assert metrics.check_metric("spearman", (), regression=True) == "spearman"
    named = metrics.check_metric("f1:b", ("a", "b", "c"))
    assert named == "f1:b" and named.label_names == ("a", "b", "c")
    import pickle

    assert pickle.loads(pickle.dumps(named)).label_names == ("a", "b", "c")


def test_folder_task_metric_is_scored_with_its_class_names(tmp_path):
    import json

    from conftest import polarity_rows, write_jsonl
    from sggft_meta import folder_task

    folder = tmp_path / "pol"
    write_jsonl(folder / "train.jsonl", polarity_rows(3))
    write_jsonl(folder / "test.jsonl", polarity_rows(2, offset=9))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"], "metric": "f1:negative"}))
    task = folder_task(folder)
    assert task.metric == "f1:negative"
    # F1 of class 0 ('negative'): pred [0,0,1,1] vs gold [0,1,0,1] -> TP=1, FP=1, FN=1 -> 0.5
    assert compute(task.metric, arr(0, 0, 1, 1), arr(0, 1, 0, 1)) == pytest.approx(0.5)


def test_dev_selection_and_test_score_use_the_task_metric(tmp_path, tiny_bert_dir, monkeypatch):
    """A run on a task whose metric is `f1:<class name>` selects on, and reports, that metric."""
    import json

    from conftest import polarity_rows, write_jsonl
    from sggft_meta.config import load_config
    from sggft_meta.run import run_method

    folder = tmp_path / "pol"
    write_jsonl(folder / "train.jsonl", polarity_rows(8))
    write_jsonl(folder / "test.jsonl", polarity_rows(3, offset=20))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"], "metric": "f1:negative"}))
    cfg = load_config(None, [f"task={folder}", f"model.name={tiny_bert_dir}", "model.lora.targets=[query,value]",
                             "data.max_length=32", "shots=2", "seeds=[13]", "train.max_steps=2", "train.eval_every=1",
                             "progress=false"])
    seen = []

    def recording(metric, outputs, gold, label_names=None):
        seen.append(str(metric))
        return compute(metric, outputs, gold, label_names)

    monkeypatch.setattr(metrics, "compute", recording)
    report = run_method(cfg)
    assert report.metric == "f1:negative"
    assert len(seen) >= 2 and set(seen) == {"f1:negative"}  # dev evaluations (early stopping) and the test score
    seed = report.seeds[0]
    assert 0.0 <= seed.test_metric <= 1.0 and 0.0 <= seed.dev_metric <= 1.0
