"""sggft-meta: Structured Gradient-Guided Fine-Tuning for few-shot adaptation of language models.

    import sggft_meta as sg
    model = sg.fit("cr", method=sg.SggftConfig(mode="surgery"))   # or texts + labels, a Dataset, a DataFrame
    model.predict(["the battery died in a day"]); model.save_pretrained("out/cr")
    report = sg.evaluate("rte", shots=16, method="sggft")         # the LM-BFF seeds protocol
    aligner = sg.meta_train(sg.MetaConfig(sources=["trec", "ag_news", "mrpc"]), out="runs/aligner")

Data flow: task registry -> episode samplers -> inner loop -> outer loop -> evaluation -> report.
Everything a user touches is importable from here; torch and transformers load on first use.
"""

from .version import __version__

from .registry import Registry
from .config import (AlignerSettings, DataConfig, DevSplitSettings, EpisodeSettings, EvalConfig, FitConfig, LoraSettings,
                     MetaConfig, ModelConfig, RunConfig, SggftConfig, TrainConfig, load_config, typed_config)
from .errors import CheckpointError, ConfigError, DataError, MissingPackageError, ModelError, RegistryError, SggftError
from .task import TASKS, HubSource, Task, folder_task, get_task, register_task

#: public name -> module that defines it, imported on first use (they pull in torch)
_LAZY = {
    "fit": "fitting", "FewShotClassifier": "classifier",
    "evaluate": "api", "meta_train": "api", "meta_train_config": "api",
    "TaskReport": "run", "SeedResult": "run", "run_method": "run", "run_finetune": "run",
    "Aligner": "align", "ALIGNERS": "align", "load_aligner": "align", "save_aligner": "align",
    "load_backbone": "model.loading", "BACKBONES": "model.loading",
}

__all__ = [
    "__version__", "Registry", "TASKS", "HubSource", "Task", "folder_task", "get_task", "register_task",
    "RunConfig", "FitConfig", "DataConfig", "ModelConfig", "LoraSettings", "TrainConfig", "SggftConfig", "MetaConfig",
    "AlignerSettings", "EpisodeSettings", "EvalConfig", "DevSplitSettings", "load_config", "typed_config",
    "SggftError", "ConfigError", "DataError", "ModelError", "RegistryError", "MissingPackageError", "CheckpointError",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this hook
        return value
    raise AttributeError(f"module 'sggft_meta' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
