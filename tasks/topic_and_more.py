"""Topic, question type, acceptability and emotion tasks."""

from sggft_meta.task import HubSource, Task, register_task


@register_task
class TREC(Task):
    name = "trec"
    label_names = ("description", "entity", "abbreviation", "human", "location", "numeric")
    domain = "question-type"
    # CogComp/trec orders coarse labels ABBR, ENTY, DESC, HUM, LOC, NUM; ours follow LM-BFF.
    hub = HubSource("CogComp/trec", label="coarse_label", label_map={0: 2, 1: 1, 2: 0, 3: 3, 4: 4, 5: 5})
    template = "{text} The answer is a {label}."
    verbalizers = ("description", "thing", "abbreviation", "person", "place", "number")
    description = "TREC question classification, six coarse types."


@register_task
class AGNews(Task):
    name = "ag_news"
    label_names = ("World", "Sports", "Business", "Sci/Tech")
    domain = "topic"
    hub = HubSource("fancyzhx/ag_news")
    template = "{text} Topic: {label}"
    verbalizers = ("world", "sports", "business", "technology")
    description = "AG News topics (local train = first 2,000 rows of the official train)."


@register_task
class CoLA(Task):
    name = "cola"
    label_names = ("unacceptable", "acceptable")
    domain, metric = "acceptability", "mcc"
    hub = HubSource("nyu-mll/glue", "cola", splits={"train": "train", "test": "validation"}, text="sentence")
    template = "{text} This sentence is {label}."
    verbalizers = ("wrong", "correct")
    description = "Corpus of Linguistic Acceptability; Matthews correlation."


@register_task
class Emotion(Task):
    name = "emotion"
    label_names = ("sadness", "joy", "love", "anger", "fear", "surprise")
    domain = "emotion"
    hub = HubSource("dair-ai/emotion", splits={"train": "train", "dev": "validation", "test": "test"})
    template = "{text} The feeling is {label}."
    verbalizers = ("sadness", "joy", "love", "anger", "fear", "surprise")
    description = "Emotion of English tweets (CARER)."
