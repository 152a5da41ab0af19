"""Sentiment and subjectivity tasks (LM-BFF's single-sentence set)."""

from sggft_meta.task import HubSource, Task, register_task

_POLARITY = {"template": "{text} It was {label}.", "verbalizers": ("terrible", "great")}


@register_task
class SST2(Task):
    name = "sst2"
    label_names = ("negative", "positive")
    domain = "sentiment"
    hub = HubSource("SetFit/sst2", splits={"train": "train", "test": "validation"})
    template, verbalizers = _POLARITY["template"], _POLARITY["verbalizers"]
    description = "Stanford Sentiment Treebank, binary (LM-BFF split: 6,920 train sentences, GLUE dev as test)."


@register_task
class SST5(Task):
    name = "sst5"
    label_names = ("very negative", "negative", "neutral", "positive", "very positive")
    domain = "sentiment"
    hub = HubSource("SetFit/sst5")
    template = "{text} It was {label}."
    verbalizers = ("terrible", "bad", "okay", "good", "great")
    description = "Stanford Sentiment Treebank, five classes."


@register_task
class MR(Task):
    name = "mr"
    label_names = ("negative", "positive")
    domain = "sentiment"
    hub = HubSource("cornell-movie-review-data/rotten_tomatoes")
    template, verbalizers = _POLARITY["template"], _POLARITY["verbalizers"]
    description = "Movie review sentence polarity (Pang & Lee 2005)."


@register_task
class CR(Task):
    name = "cr"
    label_names = ("negative", "positive")
    domain = "sentiment"
    hub = HubSource("SetFit/SentEval-CR")
    template, verbalizers = _POLARITY["template"], _POLARITY["verbalizers"]
    description = "Customer reviews (Hu & Liu 2004)."


@register_task
class MPQA(Task):
    name = "mpqa"
    label_names = ("negative", "positive")
    domain = "sentiment"
    template, verbalizers = _POLARITY["template"], _POLARITY["verbalizers"]
    description = "MPQA opinion polarity phrases (no hub copy with LM-BFF's split is known; use the data folder)."


@register_task
class Subj(Task):
    name = "subj"
    label_names = ("subjective", "objective")
    domain = "subjectivity"
    hub = HubSource("SetFit/subj")
    template = "{text} This is {label}."
    verbalizers = ("subjective", "objective")
    description = "Subjectivity of movie-review sentences (Pang & Lee 2004)."
