"""Task metrics on numpy arrays: accuracy, F1 (of class 1), Matthews correlation, Pearson."""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float((pred == gold).mean())


def f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    tp = float(((pred == 1) & (gold == 1)).sum())
    fp = float(((pred == 1) & (gold != 1)).sum())
    fn = float(((pred != 1) & (gold == 1)).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def mcc(pred: np.ndarray, gold: np.ndarray) -> float:
    """Matthews correlation (binary); 0 when a row or column of the confusion matrix is empty."""
    tp = float(((pred == 1) & (gold == 1)).sum())
    tn = float(((pred == 0) & (gold == 0)).sum())
    fp = float(((pred == 1) & (gold == 0)).sum())
    fn = float(((pred == 0) & (gold == 1)).sum())
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else float((tp * tn - fp * fn) / denom)


def pearson(pred: np.ndarray, gold: np.ndarray) -> float:
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if pred.std() == 0 or gold.std() == 0:
        return 0.0
    return float(np.corrcoef(pred, gold)[0, 1])


METRIC_FUNCTIONS = {"accuracy": accuracy, "f1": f1, "mcc": mcc, "pearson": pearson}


def compute(metric: str, outputs: np.ndarray, gold: np.ndarray) -> float:
    """Score model outputs: class logits [N, C] (argmax) or regression values [N] / [N, 1]."""
    outputs = np.asarray(outputs)
    if metric == "pearson":
        pred = outputs.reshape(len(outputs), -1)[:, 0]
    else:
        pred = outputs.argmax(axis=-1) if outputs.ndim == 2 else outputs
    return METRIC_FUNCTIONS[metric](pred, np.asarray(gold))
