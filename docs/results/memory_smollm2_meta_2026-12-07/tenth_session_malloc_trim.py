# Does the RSS a MAML meta-training leaves behind come back with gc + malloc_trim?
import ctypes, gc, os, sys, time, tempfile
def rss():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
from sggft_meta.config import RunConfig
from sggft_meta.baselines.meta_init import MetaInitLearner, MetaInitSettings
from sggft_meta.model.loading import load_backbone
import yaml
cfg = RunConfig.model_validate({"task": "trec", "model": {"name": "smollm2", "adapt": "lora"},
    "meta": {"sources": ["sst2", "cola"], "outer_steps": 2, "meta_batch": 2, "inner_steps": 5,
             "episode": {"k_shot": 4, "q_query": 8}},
    "data": {"dir": "../shared/data"}})
bb = load_backbone(cfg.model, cfg.data.max_length)
print("after load", rss(), flush=True)
s = MetaInitSettings(algorithm="maml", inner_optimizer="train")
l = MetaInitLearner(cfg, s, bb)
l.train(tempfile.mkdtemp())
print("after train", rss(), flush=True)
del l; gc.collect(); print("after gc", rss(), flush=True)
ctypes.CDLL("libc.so.6").malloc_trim(0); print("after malloc_trim", rss(), flush=True)
