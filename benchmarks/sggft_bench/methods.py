"""Bench method kinds: `BENCH_METHODS` maps a kind name to `fn(cell, ctx) -> dict`.

A kind runs ONE cell (one method on one task, one K, one data seed) and returns its record:

    @BENCH_METHODS.register("maml")
    def run_maml(cell: Cell, ctx: Context) -> dict:
        cfg = ctx.run_config(cell)            # RunConfig from the grid's base + method overrides
        backbone = ctx.backbone(cfg)          # loaded once per model config, reset for this cell
        ...
        return {"test_metric": 0.83, "seconds": 12.5,          # required
                "trace": {"grad_norm_cv": 0.4, ...},            # optional: Trace.summary() figures
                "peak_memory_bytes": None}                      # optional

Required keys: `test_metric` (the task's metric on the whole test split, a float in its natural
scale, e.g. accuracy in [0, 1]) and `seconds` (wall seconds of the episode: adaptation plus test
evaluation). Optional: `trace` (a dict; `grad_norm_cv` feeds the gradient-stability table),
`peak_memory_bytes`, `metric` (the metric's name; default the task's), `backbone` (default the
config's model.name), and anything else JSON-safe. Raise `SggftError` (or any exception) to fail
the cell: the runner records it as an error and goes on.

A kind may carry `fn.check(name, spec, grid)`, called when the grid is loaded (before any cell
runs), to reject bad settings early by raising `SggftError`.
"""

from __future__ import annotations

from typing import Callable

from sggft_meta import Registry
from sggft_meta.errors import ConfigError

BENCH_METHODS: Registry[Callable] = Registry("bench method kind")


# ----------------------------------------------------------------------------- run
def _check_run(name, spec, grid) -> None:
    """The method's RunConfig validates (unknown fields and bad values fail here, not per cell)."""
    if spec.options:
        raise ConfigError(f"kind 'run' takes no options (got {', '.join(spec.options)}); put RunConfig fields in overrides")
    from sggft_meta.config import load_config

    try:
        load_config(None, [*grid.base, *spec.overrides], base={"task": grid.tasks[0], "shots": grid.shots[0], "seeds": [grid.seeds[0]]})
    except ConfigError as e:
        raise ConfigError(f"overrides: {e}") from None


@BENCH_METHODS.register("run")
def run_cell(cell, ctx) -> dict:
    """`sggft_meta.run.run_method` (plain fine-tuning or SGGFT, per the `method` override) on one seed."""
    from sggft_meta.run import run_metadata, run_method

    cfg = ctx.run_config(cell)
    backbone = ctx.backbone(cfg)
    report = run_method(cfg, backbone)
    s = report.seeds[0]
    return {
        "test_metric": s.test_metric,
        "metric": report.metric,
        "seconds": s.train_seconds + s.eval_seconds,
        "train_seconds": s.train_seconds,
        "eval_seconds": s.eval_seconds,
        "test_loss": s.test_loss,
        "dev_metric": s.dev_metric,
        "best_step": s.best_step,
        "steps": s.steps,
        "stopped_early": s.stopped_early,
        "trace": s.trace,
        "peak_memory_bytes": s.trace.get("peak_memory_bytes"),
        "per_step": {k: s.per_step[k] for k in ("grad_norm", "loss") if k in s.per_step},
        "backbone": report.backbone,
        "adapt": report.adapt,
        "run_method": report.method,
        "aligner": getattr(report, "aligner", None),
        "run_metadata": run_metadata(cfg, ctx.command),
    }


run_cell.check = _check_run


# -------------------------------------------------------------------------- setfit
def _check_setfit(name, spec, grid) -> None:
    from .setfit_runner import _import_setfit, _split_overrides

    opts = {k: v for k, v in spec.options.items() if k != "body"}
    setfit, _ = _import_setfit()  # SggftError with the install command when missing
    _split_overrides(setfit, opts)


@BENCH_METHODS.register("setfit")
def setfit_cell(cell, ctx) -> dict:
    """`sggft_bench.setfit_runner.run_setfit` on one seed; options: `body` and
    setfit.TrainingArguments fields (progress bars off unless `show_progress_bar` is set)."""
    from .setfit_runner import run_setfit

    opts = dict(cell.options)
    body = opts.pop("body", None)
    opts.setdefault("show_progress_bar", False)
    result = run_setfit(cell.task, cell.shots, [cell.seed], ctx.data_dir, body=body, **opts)
    seed = result["seeds"][0]
    return {
        "test_metric": seed["test_metric"],
        "metric": result["metric"],
        "seconds": seed["seconds"],
        "train_seconds": seed["train_seconds"],
        "eval_seconds": seed["eval_seconds"],
        "backbone": result["body"],
        "setfit": {k: v for k, v in result.items() if k not in ("seeds", "summary")} | {"seed": seed},
    }


setfit_cell.check = _check_setfit
