"""Sentence-pair tasks: natural language inference, paraphrase, similarity."""

from sggft_meta.task import HubSource, Task, register_task

_NLI3 = "Premise: {text}\nHypothesis: {text_pair}\nDoes the premise entail the hypothesis? {label}"
_NLI2 = _NLI3
_PARA = "First: {text}\nSecond: {text_pair}\nDo they mean the same thing? {label}"


def _glue(config: str, first: str, second: str, test: str = "validation") -> HubSource:
    return HubSource("nyu-mll/glue", config, splits={"train": "train", "test": test}, text=first, text_pair=second)


@register_task
class MNLI(Task):
    name = "mnli"
    label_names = ("entailment", "neutral", "contradiction")
    pair, domain = True, "nli"
    hub = _glue("mnli", "premise", "hypothesis", test="validation_matched")
    template, verbalizers = _NLI3, ("Yes", "Maybe", "No")
    description = "MultiNLI; test = dev-matched."


@register_task
class SNLI(Task):
    name = "snli"
    label_names = ("entailment", "neutral", "contradiction")
    pair, domain = True, "nli"
    hub = HubSource("stanfordnlp/snli", splits={"train": "train", "dev": "validation", "test": "test"}, text="premise", text_pair="hypothesis")
    template, verbalizers = _NLI3, ("Yes", "Maybe", "No")
    description = "Stanford NLI."


@register_task
class QNLI(Task):
    name = "qnli"
    label_names = ("entailment", "not_entailment")
    pair, domain = True, "nli"
    hub = _glue("qnli", "question", "sentence")
    template = "Question: {text}\nSentence: {text_pair}\nDoes the sentence answer the question? {label}"
    verbalizers = ("Yes", "No")
    description = "Question-answering NLI from SQuAD; test = GLUE dev."


@register_task
class RTE(Task):
    name = "rte"
    label_names = ("entailment", "not_entailment")
    pair, domain = True, "nli"
    hub = _glue("rte", "sentence1", "sentence2")
    template, verbalizers = _NLI2, ("Yes", "No")
    description = "Recognising Textual Entailment (GLUE); test = GLUE dev."


@register_task
class MRPC(Task):
    name = "mrpc"
    label_names = ("not_equivalent", "equivalent")
    pair, domain, metric = True, "paraphrase", "f1"
    hub = _glue("mrpc", "sentence1", "sentence2")
    template, verbalizers = _PARA, ("No", "Yes")
    description = "Microsoft Research Paraphrase Corpus; test = GLUE dev; F1 of 'equivalent'."


@register_task
class QQP(Task):
    name = "qqp"
    label_names = ("not_duplicate", "duplicate")
    pair, domain, metric = True, "paraphrase", "f1"
    hub = _glue("qqp", "question1", "question2")
    template, verbalizers = _PARA, ("No", "Yes")
    description = "Quora Question Pairs; the local test is a held-out part of GLUE train, the hub test is GLUE dev."


@register_task
class STSB(Task):
    name = "stsb"
    pair, domain, metric, task_type = True, "similarity", "pearson", "regression"
    hub = _glue("stsb", "sentence1", "sentence2")
    description = "STS Benchmark similarity scores 0..5 (regression; few-shot splits stratify by the median)."
