"""sggft-meta: Structured Gradient-Guided Fine-Tuning for few-shot adaptation of language models.

Data flow: task registry -> episode samplers -> inner loop -> outer loop -> evaluation -> report.
"""

__version__ = "0.1.0"

from ._registry import Registry
from .config import RunConfig, load_config
from .errors import ConfigError, DataError, ModelError, RegistryError, SggftError
from .task import TASKS, HubSource, Task, folder_task, get_task, register_task

__all__ = [
    "__version__", "Registry", "RunConfig", "load_config", "SggftError", "ConfigError", "DataError",
    "ModelError", "RegistryError", "TASKS", "HubSource", "Task", "folder_task", "get_task", "register_task",
    "run_finetune", "load_backbone",
]


def __getattr__(name):  # heavy imports (torch, transformers) only when used
    if name == "run_finetune":
        from .run import run_finetune

        return run_finetune
    if name == "load_backbone":
        from .model.loading import load_backbone

        return load_backbone
    raise AttributeError(name)
