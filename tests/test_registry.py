"""The generic Registry, task registration and validation, and the built-in task set."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
from pathlib import Path

import pytest

import sggft_meta
from sggft_meta import TASKS, Registry, RegistryError, SggftError, Task, get_task, register_task

# The tasks of the shared data pack (/work/shared/data/MANIFEST.md).
MANIFEST_TASKS = (
    "ag_news", "cola", "cr", "emotion", "mnli", "mpqa", "mr", "mrpc", "qnli", "qqp",
    "rte", "snli", "sst2", "sst5", "stsb", "subj", "trec",
)


def shared_data_dir() -> Path | None:
    """../shared/data beside the repository, else $SGGFT_DATA_DIR, else None."""
    here = Path(sggft_meta.__file__).resolve().parents[2] / "shared" / "data"
    if here.is_dir():
        return here
    env = os.environ.get("SGGFT_DATA_DIR")
    return Path(env) if env and Path(env).is_dir() else None


def read_meta(task_name: str) -> dict:
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared data pack not found (../shared/data or $SGGFT_DATA_DIR)")
    path = root / task_name / "meta.json"
    assert path.is_file(), f"{path} is missing from the data pack"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def tasks_to_unregister():
    """Names appended here are removed from TASKS after the test, whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        if name in TASKS:
            TASKS.unregister(name)


def make_task_class(**attrs) -> type[Task]:
    base = {"name": "tmp_test_task", "label_names": ("no", "yes"), "domain": "testing"}
    base.update(attrs)
    return type("TmpTask", (Task,), base)


# ------------------------------------------------------------------ Registry
def test_register_as_decorator_and_as_call():
    reg: Registry[object] = Registry("widget")

    @reg.register("beta")
    def beta():
        return "b"

    alpha = object()
    returned = reg.register("alpha", alpha)

    assert returned is alpha  # the call form returns the object
    assert beta() == "b"  # the decorator returns the function unchanged
    assert reg.get("beta") is beta
    assert reg.get("alpha") is alpha
    assert reg.names() == ["alpha", "beta"]  # sorted, not insertion order
    assert list(reg) == ["alpha", "beta"]
    assert len(reg) == 2
    assert "alpha" in reg and "beta" in reg
    assert "gamma" not in reg and 3 not in reg
    assert repr(reg) == "Registry('widget', 2 items)"


def test_names_are_sorted():
    reg: Registry[int] = Registry("number")
    for i, name in enumerate(["trec", "sst5", "ag_news", "sst2"]):
        reg.register(name, i)
    assert reg.names() == ["ag_news", "sst2", "sst5", "trec"]
    assert len(reg) == 4


def test_duplicate_name_raises_and_keeps_first():
    reg: Registry[str] = Registry("widget")
    reg.register("a", "first")
    with pytest.raises(RegistryError) as info:
        reg.register("a", "second")
    msg = str(info.value)
    assert "'a'" in msg and "already registered" in msg
    assert reg.get("a") == "first"
    assert len(reg) == 1

    # the decorator form raises too, and also keeps the first
    with pytest.raises(RegistryError):
        reg.register("a")(lambda: None)
    assert reg.get("a") == "first"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_empty_or_non_string_name_raises(bad):
    reg: Registry[int] = Registry("widget")
    with pytest.raises(RegistryError, match="non-empty string"):
        reg.register(bad, 1)
    assert len(reg) == 0


def test_unknown_name_suggests_closest():
    reg: Registry[int] = Registry("task")
    for i, name in enumerate(["sst2", "sst5", "trec"]):
        reg.register(name, i)
    with pytest.raises(RegistryError) as info:
        reg.get("sst-2")
    msg = str(info.value)
    assert "unknown task 'sst-2'" in msg
    assert "Did you mean 'sst2'" in msg
    assert "Known tasks: sst2, sst5, trec." in msg
    # RegistryError is a KeyError, but its str is the plain message (not quoted)
    assert isinstance(info.value, KeyError) and isinstance(info.value, SggftError)
    assert not msg.startswith(("'", '"'))


def test_unknown_name_suggestion_by_similarity_not_only_prefix():
    reg: Registry[int] = Registry("task")
    for i, name in enumerate(["sst2", "sst5", "trec"]):
        reg.register(name, i)
    with pytest.raises(RegistryError) as info:
        reg.get("2sst")  # shares no 3-letter prefix with any name; edit similarity finds sst2 (and sst5)
    hint = str(info.value).split("Known tasks")[0]
    assert "Did you mean" in hint and "'sst2'" in hint and "'trec'" not in hint


def test_unknown_name_without_close_match_lists_known_names():
    reg: Registry[int] = Registry("task")
    reg.register("sst2", 0)
    reg.register("trec", 1)
    with pytest.raises(RegistryError) as info:
        reg.get("zzzzzz")
    msg = str(info.value)
    assert "Did you mean" not in msg
    assert "Known tasks: sst2, trec." in msg


def test_unknown_name_in_empty_registry():
    reg: Registry[int] = Registry("aligner")
    with pytest.raises(RegistryError, match=r"Known aligners: \(none\)"):
        reg.get("x")


def test_unregister_removes_and_returns():
    reg: Registry[str] = Registry("widget")
    reg.register("a", "A")
    assert reg.unregister("a") == "A"
    assert "a" not in reg and len(reg) == 0
    with pytest.raises(RegistryError):
        reg.unregister("a")
    reg.register("a", "again")  # the name is free again
    assert reg.get("a") == "again"


# ------------------------------------------------------------------ register_task
def test_register_task_registers_an_instance(tasks_to_unregister):
    cls = make_task_class(name="tmp_valid_task", label_names=["neg", "pos"], metric="f1")
    tasks_to_unregister.append("tmp_valid_task")
    assert register_task(cls) is cls
    task = TASKS.get("tmp_valid_task")
    assert type(task) is cls
    assert task.label_names == ("neg", "pos")  # a list is stored as a tuple
    assert task.num_classes == 2 and task.metric == "f1" and not task.pair
    assert get_task("tmp_valid_task") is task


def test_register_task_duplicate_name_keeps_builtin():
    builtin = get_task("sst2")
    with pytest.raises(RegistryError, match="'sst2' is already registered"):
        register_task(make_task_class(name="sst2"))
    assert TASKS.get("sst2") is builtin
    assert builtin.label_names == ("negative", "positive")


@pytest.mark.parametrize(
    "attrs, fragment",
    [
        ({"domain": None}, "set the class attribute 'domain'"),
        ({"domain": ""}, "set the class attribute 'domain'"),
        ({"name": ""}, "set the class attribute 'name'"),
        ({"label_names": ("only",)}, "two or more"),
        ({"label_names": ()}, "two or more"),
        ({"metric": "auc"}, "metric 'auc' is not one of"),
        ({"task_type": "ranking"}, "task_type must be 'classification' or 'regression'"),
        ({"verbalizers": ("bad", "good", "meh")}, "3 verbalizers for 2 labels"),
        ({"template": "{label} is the answer for {text}"}, "must end with the {label} slot"),
    ],
)
def test_register_task_validation(attrs, fragment):
    cls = make_task_class(**{"name": "tmp_invalid_task", **attrs})
    before = TASKS.names()
    with pytest.raises(RegistryError) as info:
        register_task(cls)
    msg = str(info.value)
    assert fragment in msg
    assert "TmpTask" in msg  # the message names the offending class
    assert TASKS.names() == before  # nothing was registered
    assert "tmp_invalid_task" not in TASKS


def test_register_task_missing_domain_attribute():
    class NoDomain(Task):
        name = "tmp_no_domain"
        label_names = ("a", "b")

    with pytest.raises(RegistryError, match="NoDomain: set the class attribute 'domain'"):
        register_task(NoDomain)
    assert "tmp_no_domain" not in TASKS


def test_template_with_trailing_period_is_allowed(tasks_to_unregister):
    tasks_to_unregister.append("tmp_template_task")
    register_task(make_task_class(name="tmp_template_task", template="{text} It was {label}."))
    assert TASKS.get("tmp_template_task").prompt_template() == "{text} It was {label}."


def test_regression_task_needs_no_labels(tasks_to_unregister):
    tasks_to_unregister.append("tmp_regression_task")
    register_task(make_task_class(name="tmp_regression_task", label_names=(), task_type="regression", metric="pearson"))
    task = TASKS.get("tmp_regression_task")
    assert task.is_regression and task.num_classes == 0


@pytest.mark.parametrize("not_a_task", [object, dict, "sst2", 3, lambda: None])
def test_register_task_rejects_non_task(not_a_task):
    with pytest.raises(RegistryError, match="decorates a subclass of sggft_meta.Task"):
        register_task(not_a_task)


def test_register_task_rejects_task_instance():
    instance = make_task_class(name="tmp_instance")()
    with pytest.raises(RegistryError, match="subclass of sggft_meta.Task"):
        register_task(instance)
    assert "tmp_instance" not in TASKS


# ------------------------------------------------------------------ built-in tasks
def test_get_task_returns_the_builtin_sst2():
    import sggft_tasks.sentiment

    task = sggft_meta.get_task("sst2")
    assert isinstance(task, sggft_tasks.sentiment.SST2)
    assert task is TASKS.get("sst2")
    assert task.name == "sst2" and task.label_names == ("negative", "positive")
    assert task.domain == "sentiment" and task.metric == "accuracy" and not task.pair
    assert sggft_meta.get_task("sst2") is task  # the same instance every time


def test_get_task_unknown_name_suggests_builtin():
    with pytest.raises(RegistryError) as info:
        sggft_meta.get_task("sst-2")
    assert "Did you mean 'sst2'" in str(info.value)


@pytest.mark.parametrize("name", MANIFEST_TASKS)
def test_manifest_task_is_registered(name):
    task = get_task(name)
    assert task.name == name
    assert task.metric in ("accuracy", "f1", "mcc", "pearson")


def test_manifest_list_matches_data_pack():
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared data pack not found (../shared/data or $SGGFT_DATA_DIR)")
    in_pack = sorted(p.parent.name for p in root.glob("*/meta.json"))
    assert in_pack == sorted(MANIFEST_TASKS)


@pytest.mark.parametrize("name", MANIFEST_TASKS)
def test_builtin_task_matches_meta_json(name):
    task = get_task(name)
    meta = read_meta(name)
    assert meta["name"] == name
    assert task.pair == meta["pair"]
    assert task.domain == meta["domain"]
    assert task.metric == meta["metric"]
    assert task.task_type == meta["task_type"]
    if meta["task_type"] == "classification":
        assert task.label_names == tuple(meta["label_names"])
        assert task.num_classes == len(meta["label_names"])
    else:
        # Regression (STS-B): meta.json names the score column ("similarity"); the task has no
        # classes, and the loader does not compare label names for regression tasks.
        assert task.is_regression and task.label_names == ()
