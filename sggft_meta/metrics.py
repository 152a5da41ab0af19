"""Task metrics on numpy arrays.

Classification: `accuracy`, `f1` (F1 of class 1, as GLUE reports for MRPC and QQP), `macro_f1`,
`weighted_f1`, `balanced_accuracy`, `f1:<class name>` (F1 of one named class), `mcc` (Matthews
correlation, multi-class). Regression: `pearson`, `spearman`. Each agrees with scikit-learn's
function of the same name (default arguments; a class neither predicted nor present scores F1 0);
a correlation is 0 where it is undefined (constant predictions or gold values).
"""

from __future__ import annotations

import numpy as np
import yaml

from .registry import closest
from .errors import RegistryError

CLASS_F1_PREFIX = "f1:"


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(gold)).mean())


def _per_class_f1(pred: np.ndarray, gold: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """F1 of each class in `classes` (0 where it has no true positive)."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    out = np.zeros(len(classes), dtype=np.float64)
    for i, c in enumerate(classes):
        tp = float(((pred == c) & (gold == c)).sum())
        fp = float(((pred == c) & (gold != c)).sum())
        fn = float(((pred != c) & (gold == c)).sum())
        out[i] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return out


def class_f1(pred: np.ndarray, gold: np.ndarray, index: int) -> float:
    """F1 of the class with id `index` (`f1:<class name>`)."""
    return float(_per_class_f1(pred, gold, np.array([index]))[0])


def f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    return class_f1(pred, gold, 1)


def _present(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    return np.union1d(np.asarray(pred), np.asarray(gold))


def macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes in `gold` or `pred`."""
    return float(_per_class_f1(pred, gold, _present(pred, gold)).mean())


def weighted_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Mean of the per-class F1 weighted by each class's number of gold examples."""
    classes = _present(pred, gold)
    support = np.array([(np.asarray(gold) == c).sum() for c in classes], dtype=np.float64)
    if support.sum() == 0:
        return 0.0
    return float((_per_class_f1(pred, gold, classes) * support).sum() / support.sum())


def balanced_accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    """Mean recall over the classes present in `gold`."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    recalls = [float((pred[gold == c] == c).mean()) for c in np.unique(gold)]
    return float(np.mean(recalls)) if recalls else 0.0


def mcc(pred: np.ndarray, gold: np.ndarray) -> float:
    """Matthews correlation (multi-class, Gorodkin's R_K; the usual formula for two classes);
    0 when it is undefined (only one class predicted, or only one class in `gold`)."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    classes = _present(pred, gold)
    t = np.array([(gold == c).sum() for c in classes], dtype=np.float64)  # gold counts
    p = np.array([(pred == c).sum() for c in classes], dtype=np.float64)  # predicted counts
    c = float((pred == gold).sum())
    s = float(len(gold))
    cov_pp, cov_tt = s * s - (p * p).sum(), s * s - (t * t).sum()
    if cov_pp == 0 or cov_tt == 0:
        return 0.0
    return float((c * s - (p * t).sum()) / np.sqrt(cov_pp * cov_tt))


def pearson(pred: np.ndarray, gold: np.ndarray) -> float:
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if pred.std() == 0 or gold.std() == 0:
        return 0.0
    return float(np.corrcoef(pred, gold)[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N, ties sharing the mean of their ranks (scipy.stats.rankdata's 'average')."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
            start = end
    return ranks


def spearman(pred: np.ndarray, gold: np.ndarray) -> float:
    """Spearman rank correlation: Pearson of the average ranks (ties share their mean rank)."""
    return pearson(_average_ranks(pred), _average_ranks(gold))


METRIC_FUNCTIONS = {"accuracy": accuracy, "f1": f1, "macro_f1": macro_f1, "weighted_f1": weighted_f1,
                    "balanced_accuracy": balanced_accuracy, "mcc": mcc, "pearson": pearson, "spearman": spearman}
#: metrics of regression outputs; every other metric scores predicted classes
REGRESSION_METRICS = ("pearson", "spearman")
#: every metric name a task may give (`f1:<class name>` stands for the F1 of one named class)
METRIC_NAMES = (*METRIC_FUNCTIONS, CLASS_F1_PREFIX + "<class name>")


class MetricName(str):
    """A task's metric name that carries the task's label names, so `f1:<class name>` can be
    scored from the name alone. Compares, prints and serialises as the plain name."""

    label_names: tuple[str, ...] = ()

    def __new__(cls, name: str, label_names=()):
        obj = super().__new__(cls, name)
        obj.label_names = tuple(label_names)
        return obj

    def __reduce__(self):
        return (MetricName, (str(self), self.label_names))


yaml.SafeDumper.add_representer(MetricName, yaml.representer.SafeRepresenter.represent_str)


def _unknown(metric: str) -> RegistryError:
    hint = closest(metric, list(METRIC_FUNCTIONS))
    did_you_mean = f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    return RegistryError(f"metric {metric!r} is not one of the known metrics ({', '.join(METRIC_NAMES)}){did_you_mean}")


def check_metric(metric, label_names=(), regression: bool = False) -> str:
    """`metric` checked for a task with `label_names` (or a regression task) and returned;
    `f1:<class name>` comes back as a `MetricName` carrying the label names. A bad name raises
    `RegistryError` saying what to use."""
    if not isinstance(metric, str) or not metric:
        raise RegistryError(f"metric must be a metric name ({', '.join(METRIC_NAMES)}), got {metric!r}")
    names = tuple(label_names)
    if metric.startswith(CLASS_F1_PREFIX):
        cls = metric[len(CLASS_F1_PREFIX):]
        if regression:
            raise RegistryError(f"metric {metric!r} scores one class, but this is a regression task; use "
                                f"{' or '.join(REGRESSION_METRICS)}")
        if cls not in names:
            hint = closest(cls, list(names))
            did_you_mean = f" (did you mean {CLASS_F1_PREFIX}{hint[0]}?)" if hint else ""
            raise RegistryError(f"metric {metric!r}: {cls!r} is not one of the task's classes {list(names)}{did_you_mean}; "
                                f"write {CLASS_F1_PREFIX}<class name> with one of them")
        return MetricName(metric, names)
    metric = str(metric)
    if metric not in METRIC_FUNCTIONS:
        raise _unknown(metric)
    if regression and metric not in REGRESSION_METRICS:
        raise RegistryError(f"metric {metric!r} scores classes, but this is a regression task; use "
                            f"{' or '.join(REGRESSION_METRICS)}")
    if not regression and metric in REGRESSION_METRICS:
        raise RegistryError(f"metric {metric!r} scores regression outputs, but this is a classification task; use "
                            "accuracy, f1, macro_f1, weighted_f1, balanced_accuracy, f1:<class name> or mcc")
    if not regression and metric == "f1" and len(names) > 2:
        raise RegistryError(f"metric 'f1' is the F1 of class 1 of a two-class task, but this task has {len(names)} classes; "
                            f"use macro_f1, weighted_f1 or f1:<class name> (e.g. f1:{names[-1]})")
    return metric


def compute(metric: str, outputs: np.ndarray, gold: np.ndarray, label_names=None) -> float:
    """Score model outputs: class logits [N, C] (argmax), class ids [N], or regression values
    [N] / [N, 1]. `f1:<class name>` finds its class in `label_names`, else in the label names
    that a task's metric (a `MetricName`) carries."""
    outputs = np.asarray(outputs)
    gold = np.asarray(gold)
    if metric in REGRESSION_METRICS:
        return METRIC_FUNCTIONS[metric](outputs.reshape(len(outputs), -1)[:, 0], gold)
    pred = outputs.argmax(axis=-1) if outputs.ndim == 2 else outputs
    if isinstance(metric, str) and metric.startswith(CLASS_F1_PREFIX):
        names = tuple(label_names if label_names is not None else getattr(metric, "label_names", ()))
        cls = metric[len(CLASS_F1_PREFIX):]
        if cls not in names:
            raise RegistryError(f"metric {metric!r}: {cls!r} is not one of the class names {list(names)}; "
                                "pass the task's label_names (or the task's own metric)")
        return class_f1(pred, gold, names.index(cls))
    if metric not in METRIC_FUNCTIONS:
        raise _unknown(str(metric))
    return METRIC_FUNCTIONS[metric](pred, gold)
