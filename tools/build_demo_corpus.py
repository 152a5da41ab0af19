#!/usr/bin/env python3
"""Build the embedded demo corpus of sggft-meta (``sggft_meta/demo_corpus/``).

Every sentence in the corpus comes from this file: hand-written lexicons, phrase templates
and fully hand-written sentences, all written by the sggft-meta authors and released under
CC0. Nothing is copied from any public data set.

The build is deterministic (Python 3.11 standard library only, fixed seeds): running

    python tools/build_demo_corpus.py

from the repository root rewrites the corpus byte-identically every time. The corpus is a
small offline demo for ``sggft-meta quickstart``; it is not a benchmark.

Template mini-language used by :func:`expand`:

* ``{slot}``     a random filler from the lexicon list named ``slot`` (fillers may themselves
                 use the mini-language). Within one sentence a list never yields the same
                 filler twice, so ``{pdet}, and {pdet2}`` (two names, one list) never repeats.
* ``(a|b|c)``    one of the alternatives, chosen at random (alternatives may be empty).
* ``[text]``     optional text, kept with probability 1/2.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20240917
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "sggft_meta" / "demo_corpus"
TRAIN_ROWS = 240
TEST_ROWS = 120
MIN_WORDS = 5
MAX_WORDS = 40
LICENSE_NOTE = "Written for sggft-meta by its authors; CC0."


# ---------------------------------------------------------------------------------------------
# Template engine
# ---------------------------------------------------------------------------------------------


def _matching(template: str, start: int) -> int:
    """Index of the bracket closing the one opened at ``start``."""
    pairs = {"(": ")", "[": "]"}
    stack = [pairs[template[start]]]
    i = start + 1
    while i < len(template):
        c = template[i]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]":
            if c != stack[-1]:
                raise ValueError(f"unbalanced brackets in {template!r}")
            stack.pop()
            if not stack:
                return i
        i += 1
    raise ValueError(f"unclosed bracket in {template!r}")


def _split_top(inner: str) -> list[str]:
    """Split ``a|b(c|d)|e`` on the top-level bars only."""
    parts, depth, cur = [], 0, []
    for c in inner:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        if c == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def expand(template: str, lex: dict[str, list[str]], rng: random.Random, used: dict | None = None) -> str:
    """Expand one template (see the module docstring for the syntax)."""
    if used is None:
        used = {}
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "{":
            j = template.index("}", i)
            name = template[i + 1 : j]
            options = lex[name]
            key = id(options)  # only used for membership, never iterated: deterministic
            taken = used.setdefault(key, set())
            free = [k for k in range(len(options)) if k not in taken] or list(range(len(options)))
            k = rng.choice(free)
            taken.add(k)
            out.append(expand(options[k], lex, rng, used))
            i = j + 1
        elif c == "(":
            j = _matching(template, i)
            out.append(expand(rng.choice(_split_top(template[i + 1 : j])), lex, rng, used))
            i = j + 1
        elif c == "[":
            j = _matching(template, i)
            if rng.random() < 0.5:
                out.append(expand(template[i + 1 : j], lex, rng, used))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_A_AN_KEEP_A = ("use", "usu", "uni", "uti", "eu", "one", "once", "USB", "US", "UK", "U.")
_A_AN_FORCE_AN = ("hour", "honest", "honor", "heir")


def _fix_articles(text: str) -> str:
    def repl(m: re.Match) -> str:
        article, word = m.group(1), m.group(2)
        vowel = word[0].lower() in "aeiou" and not word.startswith(_A_AN_KEEP_A) and not word.lower().startswith(_A_AN_KEEP_A)
        if vowel or word.lower().startswith(_A_AN_FORCE_AN):
            return ("An " if article == "A" else "an ") + word
        return m.group(0)

    return re.sub(r"\b([Aa]) ([A-Za-z][\w'-]*)", repl, text)


def tidy(text: str) -> str:
    """Whitespace, punctuation, a/an and sentence capitals of a generated sentence."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r",(?=[^\s\d])", ", ", text)
    text = re.sub(r"([.!?])[.,]+", r"\1", text)
    text = re.sub(r",{2,}", ",", text)
    text = re.sub(r"^[,.;:\s]+", "", text)
    text = _fix_articles(text)
    # capital letter at the start and after each sentence end
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


def word_count(text: str) -> int:
    return len(text.split())


def norm_key(*parts: str) -> str:
    """Duplicate key: lower case, letters and digits only."""
    return " || ".join(re.sub(r"[^a-z0-9]+", " ", p.lower()).strip() for p in parts)


def fill_class(
    rng: random.Random,
    needed: int,
    hand: list[str],
    templates: list[str],
    lex,  # a lexicon dict, or a function rng -> lexicon called once per sentence
    seen: set[str],
) -> list[str]:
    """``needed`` distinct sentences of one class: hand-written first, then generated ones."""
    out: list[str] = []
    hand = list(hand)
    rng.shuffle(hand)
    for sentence in hand:
        sentence = tidy(sentence)
        key = norm_key(sentence)
        if key in seen:
            raise ValueError(f"duplicate hand-written sentence: {sentence!r}")
        if not MIN_WORDS <= word_count(sentence) <= MAX_WORDS:
            raise ValueError(f"hand-written sentence outside {MIN_WORDS}-{MAX_WORDS} words: {sentence!r}")
        seen.add(key)
        out.append(sentence)
        if len(out) == needed:
            return out
    order: list[str] = []
    attempts = 0
    while len(out) < needed:
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError(f"could not generate enough distinct sentences ({len(out)}/{needed})")
        if not order:  # cycle through the templates in shuffled rounds for an even mix
            order = list(templates)
            rng.shuffle(order)
        sentence = tidy(expand(order.pop(), lex(rng) if callable(lex) else lex, rng))
        key = norm_key(sentence)
        if key in seen or not MIN_WORDS <= word_count(sentence) <= MAX_WORDS:
            continue
        seen.add(key)
        out.append(sentence)
    return out


# ---------------------------------------------------------------------------------------------
# Task 1: product reviews (negative / positive)
# ---------------------------------------------------------------------------------------------

# Each item carries feature tags; a review of an item only uses details of its category's
# generic lists and of its own tags, so a kettle never gets a review about its blade.
PRODUCT_ITEMS: dict[str, dict[str, list[str]]] = {
    "gadgets": {
        "pair of wireless earbuds": ["elec", "battery", "wireless", "sound"],
        "phone charger": ["elec", "charging"],
        "bluetooth speaker": ["elec", "battery", "wireless", "sound"],
        "smartwatch": ["elec", "battery", "wireless", "screen", "app"],
        "laptop stand": ["stand"],
        "USB hub": ["elec", "ports"],
        "e-reader": ["elec", "battery", "screen"],
        "webcam": ["elec", "camera"],
        "power bank": ["elec", "charging", "battery"],
        "mechanical keyboard": ["elec", "keys", "wireless"],
        "wireless mouse": ["elec", "wireless", "battery", "keys"],
        "desk lamp": ["elec", "light"],
        "fitness tracker": ["elec", "battery", "wireless", "app", "screen"],
        "tablet case": ["case"],
        "portable monitor": ["elec", "screen"],
        "pair of headphones": ["elec", "battery", "wireless", "sound"],
        "dash cam": ["elec", "camera", "app"],
    },
    "kitchen": {
        "chef's knife": ["blade", "metal", "handheld"],
        "cast iron skillet": ["pan", "metal"],
        "blender": ["motor", "ice", "lid"],
        "air fryer": ["appliance", "fryer"],
        "electric kettle": ["appliance", "kettle", "lid"],
        "coffee grinder": ["motor", "coffee"],
        "French press": ["coffee", "glass"],
        "toaster": ["appliance", "toaster"],
        "non-stick pan": ["pan", "coating"],
        "cutting board": ["board"],
        "salad spinner": ["plastic", "lid"],
        "rice cooker": ["appliance", "rice", "lid"],
        "vegetable peeler": ["blade", "handheld"],
        "stand mixer": ["motor"],
        "set of measuring cups": ["plastic"],
        "garlic press": ["metal", "handheld"],
        "stock pot": ["pan", "metal", "lid"],
    },
    "clothes": {
        "rain jacket": ["rain", "zip", "fit"],
        "pair of jeans": ["fit", "fabric"],
        "wool sweater": ["fabric", "warm", "fit"],
        "pair of running shoes": ["shoes"],
        "winter coat": ["warm", "zip", "fit"],
        "pack of socks": ["fabric", "socks"],
        "hoodie": ["fabric", "fit", "warm"],
        "linen shirt": ["fabric", "fit", "buttons"],
        "pair of hiking boots": ["shoes", "rain"],
        "scarf": ["fabric", "warm"],
        "leather belt": ["leather"],
        "summer dress": ["fabric", "fit"],
        "pair of leggings": ["fabric", "fit"],
        "fleece jacket": ["warm", "zip", "fabric"],
        "raincoat": ["rain", "buttons", "fit"],
        "beanie": ["warm", "fabric"],
    },
    "furniture": {
        "office chair": ["seat", "assembly", "sturdy"],
        "bookshelf": ["storage", "assembly", "wood", "sturdy"],
        "coffee table": ["table", "assembly", "wood", "sturdy"],
        "bed frame": ["assembly", "bed", "sturdy"],
        "sofa": ["seat", "sturdy"],
        "bar stool": ["seat", "assembly", "sturdy"],
        "standing desk": ["table", "assembly", "desk", "sturdy"],
        "nightstand": ["storage", "drawer", "wood", "sturdy"],
        "dining table": ["table", "wood", "assembly", "sturdy"],
        "floor lamp": ["lamp", "assembly"],
        "shoe rack": ["storage", "assembly", "sturdy"],
        "wardrobe": ["storage", "assembly", "drawer", "sturdy"],
        "TV stand": ["storage", "assembly", "sturdy"],
        "garden bench": ["seat", "wood", "outdoor", "sturdy"],
        "bean bag": ["softseat"],
    },
}

PRODUCT_GENERIC: dict[str, dict[str, list[str]]] = {
    "gadgets": {
        "pdet": [
            "the build feels (solid|premium|sturdy)",
            "it's (lighter|smaller) than I expected",
            "it looks sleek on my desk",
            "it does exactly what I needed and nothing more",
        ],
        "ndet": [
            "the plastic feels cheap and creaks",
            "it broke within (a week|a month)",
            "it's much bulkier than it looks in the photos",
        ],
    },
    "kitchen": {
        "pdet": [
            "clean-up takes (seconds|a minute)",
            "it feels solid and well made",
            "it's dishwasher safe and still looks new",
            "it fits neatly in my cupboard",
            "it does the job in half the time",
        ],
        "ndet": [
            "it feels flimsy and cheap",
            "it's a pain to clean",
            "it broke within (a week|a month)",
            "it's much smaller than it looks in the photos",
        ],
    },
    "clothes": {
        "pdet": [
            "the stitching is neat and even",
            "the color is exactly as pictured",
            "I've had (lots of|several) compliments on it",
            "the material feels far more expensive than it was",
        ],
        "ndet": [
            "the seams came apart (within a week|on the second wear)",
            "the material feels cheap and smells of chemicals",
            "it looks nothing like the picture",
        ],
    },
    "furniture": {
        "pdet": [
            "it looks even better than the photos",
            "it fits the space perfectly",
            "it arrived well packed and without a scratch",
        ],
        "ndet": [
            "it's much smaller than the listing suggests",
            "it arrived scratched and dented",
            "the color is nothing like the website",
        ],
    },
}

PRODUCT_TAGS: dict[str, dict[str, list[str]]] = {
    # gadgets
    "elec": {"pdet": ["setup took (two|five|a couple of) minutes", "it stays cool even after hours of use"],
             "ndet": ["it gets (uncomfortably|worryingly) hot", "it (randomly|regularly) turns itself off", "it stopped working after (ten days|a month)"]},
    "battery": {"pdet": ["the battery easily lasts (a full week|several days|all day)", "it charges (quickly|surprisingly fast)"],
                "ndet": ["the battery (dies|is flat) before lunch", "it won't hold a charge for more than an hour"]},
    "wireless": {"pdet": ["it paired with my phone in seconds", "the connection has never dropped"],
                 "ndet": ["it keeps disconnecting every few minutes", "it won't pair with (my phone|my laptop)"]},
    "sound": {"pdet": ["the sound is (crisp|clear|rich) even at high volume", "the bass is deep without being muddy"],
              "ndet": ["the sound crackles at any volume", "the sound is tinny and flat"]},
    "screen": {"pdet": ["the screen is sharp and bright", "the screen is easy to read in sunlight"],
               "ndet": ["the screen has a dead pixel right in the middle", "the screen is dim and scratches easily"]},
    "app": {"pdet": ["the companion app is simple to use"], "ndet": ["the app crashes (constantly|every time I open it)"]},
    "charging": {"pdet": ["it charges my phone (quickly|surprisingly fast)", "it can charge two devices at once without slowing down"],
                 "ndet": ["it stopped charging after (ten days|two weeks|a month)", "it charges slower than the cheap one it replaced"]},
    "ports": {"pdet": ["every port works, even with everything plugged in at once"], "ndet": ["two of the ports stopped working within a week"]},
    "camera": {"pdet": ["the picture is sharp even in low light"], "ndet": ["the image is grainy even in daylight"]},
    "keys": {"pdet": ["the (keys|buttons) feel (satisfying|responsive)"], "ndet": ["the (keys|buttons) stopped responding after a week"]},
    "light": {"pdet": ["the light is bright but easy on the eyes"], "ndet": ["it flickers (constantly|every few minutes)"]},
    "case": {"pdet": ["it fits snugly and the corners are well protected", "the magnetic cover closes firmly"],
             "ndet": ["it doesn't fit properly and the corners crack", "the cover won't stay closed"]},
    "stand": {"pdet": ["it holds my laptop at eye level without wobbling", "it folds flat for my bag"],
              "ndet": ["it sags under the weight of my laptop", "the hinge loosened within a week"]},
    # kitchen
    "blade": {"pdet": ["the blade is still sharp after (months|many months) of use", "it slices through tomatoes without any effort"],
              "ndet": ["the blade went dull within weeks", "the blade was blunt out of the box"]},
    "handheld": {"pdet": ["it feels (comfortable|well balanced) in the hand"], "ndet": ["the handle is slippery when wet"]},
    "metal": {"pdet": ["it still looks brand new after years of use"], "ndet": ["it rusted after the first wash"]},
    "pan": {"pdet": ["it heats (evenly|quickly and evenly)", "the handle stays cool"],
            "ndet": ["the handle gets too hot to hold", "the base warped after a few uses"]},
    "coating": {"pdet": ["nothing sticks to it", "the coating still looks perfect"],
                "ndet": ["the coating (started peeling|flaked off) (within a month|after a few uses)", "food sticks to it no matter what I do"]},
    "motor": {"pdet": ["the motor is powerful but surprisingly quiet", "it handles anything I throw at it"],
              "ndet": ["the motor smells like it's burning", "it's so loud the whole house can hear it"]},
    "ice": {"pdet": ["it crushes ice (without any trouble|like it's nothing)", "it makes silky smoothies"],
            "ndet": ["it still leaves chunks in my smoothies"]},
    "lid": {"pdet": ["the lid fits snugly"], "ndet": ["the lid doesn't fit properly"]},
    "appliance": {"pdet": ["it's (quiet|much quieter) compared to my old one"], "ndet": ["it takes forever to heat up"]},
    "kettle": {"pdet": ["it boils water in (no time|about two minutes)", "it switches off the moment it boils"],
               "ndet": ["it leaks from the base", "it leaves a plastic taste in the water"]},
    "coffee": {"pdet": ["it makes a great cup of coffee"], "ndet": ["the coffee always comes out bitter and gritty"]},
    "glass": {"pdet": ["the glass is thicker than I expected"], "ndet": ["the glass cracked the first time I used it"]},
    "fryer": {"pdet": ["chips come out crispy every time"], "ndet": ["everything comes out soggy"]},
    "toaster": {"pdet": ["it browns bread evenly on both sides"], "ndet": ["it burns one side and leaves the other pale"]},
    "rice": {"pdet": ["it makes perfect rice every time"], "ndet": ["the rice always burns on the bottom"]},
    "board": {"pdet": ["it doesn't slide around on the counter", "it's kind to my knives"],
              "ndet": ["it cracked along the grain within weeks", "it stains if you look at it"]},
    "plastic": {"pdet": ["the plastic is thick and sturdy"], "ndet": ["the plastic parts warped in the dishwasher"]},
    # clothes
    "fit": {"pdet": ["it fits true to size"], "ndet": ["it runs (two sizes|a full size) small", "it's baggy in all the wrong places"]},
    "fabric": {"pdet": ["the fabric is (soft|really soft) and breathable", "it still looks new after (many|a dozen) washes"],
               "ndet": ["it shrank after one wash", "it pilled after a single wear", "the fabric is thin and scratchy",
                        "the dye ran and stained my other clothes"]},
    "rain": {"pdet": ["it kept me dry in a (downpour|heavy storm)"], "ndet": ["it soaked through in light rain"]},
    "zip": {"pdet": ["the zipper is sturdy and runs smoothly"], "ndet": ["the zipper broke (on day one|within days)"]},
    "warm": {"pdet": ["it's warm without being bulky"], "ndet": ["it's not warm at all"]},
    "shoes": {"pdet": ["they were comfortable straight out of the box", "the soles have plenty of grip"],
              "ndet": ["they gave me blisters on the first walk", "the sole started coming off within a month"]},
    "socks": {"pdet": ["they stay up all day"], "ndet": ["they had holes in the heels within a month"]},
    "buttons": {"pdet": ["the buttons are sewn on properly for once"], "ndet": ["the buttons fell off in the wash"]},
    "leather": {"pdet": ["the leather is thick and has softened nicely", "the buckle feels solid"],
                "ndet": ["the leather cracked within weeks", "the buckle bent on the first day"]},
    # furniture
    "assembly": {"pdet": ["assembly took (under an hour|about thirty minutes)", "the instructions were clear and every part was included"],
                 "ndet": ["half the screws were missing", "the instructions were (useless|impossible to follow)", "the pre-drilled holes don't line up"]},
    "sturdy": {"pdet": ["it feels (really sturdy|solid as a rock)", "it doesn't wobble at all"], "ndet": ["it wobbles no matter what I do"]},
    "seat": {"pdet": ["it's comfortable (for long workdays|for hours at a time)"],
             "ndet": ["the cushion flattened within weeks", "it squeaks every time I sit down"]},
    "softseat": {"pdet": ["it's the comfiest seat in the house", "the cover is soft and easy to wash"],
                 "ndet": ["it went flat within a month", "the seams split after a week"]},
    "wood": {"pdet": ["the wood is solid and heavy", "the finish is (lovely|smooth and even)"],
             "ndet": ["the wood arrived cracked", "the veneer started peeling (almost immediately|within a month)"]},
    "table": {"pdet": ["the top is big enough for everything I need"], "ndet": ["one leg is shorter than the others"]},
    "storage": {"pdet": ["it holds a lot more than I expected"], "ndet": ["the shelves sag under a few books"]},
    "drawer": {"pdet": ["the drawers glide smoothly"], "ndet": ["the drawer won't close properly"]},
    "desk": {"pdet": ["it goes up and down smoothly and quietly"], "ndet": ["the motor jams halfway up"]},
    "bed": {"pdet": ["it's completely silent when we move"], "ndet": ["it creaks every time either of us moves"]},
    "lamp": {"pdet": ["the light is warm and fills the whole room"], "ndet": ["it flickers whenever someone walks past"]},
    "outdoor": {"pdet": ["it survived a whole winter outside"], "ndet": ["it went moldy after one rainy week"]},
}

PRODUCT_COMMON: dict[str, list[str]] = {
    "minor": [
        "the packaging was a bit excessive", "delivery took a few extra days",
        "the color is slightly darker than pictured", "the manual is confusing",
        "it's a little pricier than similar ones", "the box arrived dented",
        "it had a slight smell for the first day", "it took a while to figure out",
    ],
    "good_minor": [
        "it looks nice", "shipping was fast", "the price was tempting", "the packaging was lovely",
        "customer service was polite", "the color is nice", "it looked great in the box",
    ],
    "pos_close": [
        "Would buy again.", "Highly recommend.", "Definitely recommend it.", "Worth every penny.",
        "Very happy with this purchase.", "I'd happily buy another.", "Great buy.", "No regrets.",
    ],
    "neg_close": [
        "Returning it.", "Would not buy again.", "Avoid.", "Very disappointed.", "Not recommended.",
        "Sent it back for a refund.", "Waste of money.", "Never again.",
    ],
    "relative": ["mom", "dad", "sister", "brother", "partner", "grandmother", "roommate", "son", "daughter", "best friend"],
    "duration": ["a month", "two months", "six months", "a year", "three weeks", "several months", "half a year"],
    "short_duration": ["two days", "a week", "three days", "a couple of weeks", "ten days", "one weekend"],
}

PRODUCT_POS_TEMPLATES = [
    "(Really happy with|Very pleased with|Couldn't be happier with|Thrilled with) (this|my new) {item}. {pdet}.",
    "I love this {item}[, honestly]. {pdet}, and {pdet2}.",
    "Not bad at all. {pdet}[, and {pdet2}].",
    "I was (skeptical|doubtful|not expecting much) at first, but {pdet}. [Would buy again.]",
    "{pdet}. {pos_close}",
    "(Bought|Got|Ordered) this {item} as a gift for my {relative}, who (uses it every day|loves it|says it's the best one they've owned). {pdet}.",
    "{minor}, but {pdet}. (Overall very happy|All in all a great buy|Still glad I got it).",
    "(No complaints|Zero complaints|Nothing to complain about)[ so far] after {duration}. {pdet}.",
    "Can't fault this {item}. {pdet}[ and {pdet2}].",
    "(Five stars|Ten out of ten|A solid five stars)[ from me]. {pdet}[, and {pdet2}].",
    "Honestly (better|nicer) than the (expensive|pricier|name-brand) one I (had before|used to own). {pdet}.",
    "(It|This {item}) (does exactly what it says|works exactly as described)[, and {pdet}]. {pos_close}",
    "After {duration} of (daily|regular|heavy) use, {pdet}. [Still impressed.]",
    "I didn't think a {item} could make (this much|such a) difference, but it (really|genuinely) does. {pdet}.",
    "I worried it would be (flimsy|cheap|poorly made), but (it isn't|it's not) at all. {pdet}.",
    "(Never|Not once) had a problem with (it|this {item}) in {duration}. {pos_close}",
    "The (price|description) made me nervous, but this {item} is (great|excellent|a winner). {pdet}.",
    "Second {item} I've bought from this brand and (it's just as good|still no regrets). {pdet}.",
]

PRODUCT_NEG_TEMPLATES = [
    "(Really disappointed with|Very unhappy with|I regret buying) (this|my new) {item}. {ndet}.",
    "I wanted to like this {item}, but {ndet}.",
    "(It looked great in the photos|It looks nice on the shelf|It seemed fine out of the box), but {ndet}. [Returning it.]",
    "{ndet}, and {ndet2}. {neg_close}",
    "(Not worth the money|Not worth it|Save your money|Don't waste your money). {ndet}.",
    "{good_minor}, but {ndet}, so I (can't recommend it|wouldn't buy it again|am sending it back).",
    "After only {short_duration}, {ndet}. {neg_close}",
    "(One star|Two stars at most|Zero stars if I could)[ from me]. {ndet}.",
    "(Bought|Got|Ordered) this {item} as a gift for my {relative}, who (stopped using it within a week|was not impressed|asked me to return it). {ndet}.",
    "Not (as good as|anywhere near as good as) the reviews (said|claimed). {ndet}[, and {ndet2}].",
    "(It|This {item}) (doesn't|does not) (work as described|do what it claims)[, and {ndet}]. {neg_close}",
    "The (cheapest|last) {item} I (owned|had) was better than this. {ndet}.",
    "(Sadly|Unfortunately), {ndet}. [I expected more for the price.]",
    "Cheap (materials|build|construction), and {ndet}. {neg_close}",
    "I (gave it a fair chance|really tried to make it work) for {short_duration}, but {ndet}.",
    "Nothing (special|good) about this {item}. {ndet}[, and {ndet2}].",
    "(The brand has a good name|My last one from this brand was great), but this {item} is a letdown: {ndet}.",
    "Not impressed. {ndet}. {neg_close}",
]

PRODUCT_POS_HAND = [
    "The kettle is quieter than my old one and switches off the moment it boils.",
    "These jeans fit like they were made for me.",
    "Sturdy little bookshelf, and it took twenty minutes to put together.",
    "My back stopped hurting after a week in this chair.",
    "The earbuds stay in during runs, which no other pair has managed.",
    "Expected a cheap knockoff and got something that feels twice the price.",
    "I have burned through three cheaper blenders; this one just keeps going.",
    "Not the flashiest lamp, but the light is warm and easy on the eyes.",
    "The sweater is a bit itchy on the first day, then softens up beautifully.",
    "Honestly can't find anything wrong with this skillet.",
    "I was ready to return it, then realized I had assembled it backwards. Works perfectly now.",
    "The dress is even prettier in person and the pockets are a nice surprise.",
    "This power bank charges my phone twice over and fits in my jacket pocket.",
    "The mouse is small and quiet, and the battery seems to last forever.",
    "Comfortable boots straight out of the box, no breaking in needed.",
    "The sofa cushions are firm but comfy, exactly what we wanted.",
    "This knife cuts tomatoes paper thin without any effort.",
    "Brilliant little speaker for the price; the bass surprised me.",
    "Our old table seated four; this one seats six and still fits the room.",
    "Does what it should, looks good doing it, and cost less than I expected.",
    "Not a single loose thread after a year of wearing it every week.",
    "I'd buy this raincoat again in a heartbeat.",
    "The standing desk goes up and down smoothly and silently.",
    "Great rice cooker. Set it, forget it, perfect rice.",
    "The keyboard is loud, which I love, and every key feels solid.",
    "Took a chance on an unknown brand and it paid off.",
    "The webcam works with everything I own, no drivers needed.",
    "The peeler is so good I bought a second one for my sister.",
    "It's not perfect, the cord is short, but the toaster browns evenly on both sides and I'm keeping it.",
    "Didn't expect much from a cheap hoodie, but it's become my favorite.",
    "The mattress topper turned our old guest bed into the comfiest bed in the house.",
    "Wore these running shoes for a half marathon and my feet felt fine afterwards.",
]

PRODUCT_NEG_HAND = [
    "The handle snapped off the first time I lifted a full pot.",
    "Returned the chair after two days; my back hurt more than before.",
    "The earbuds fall out if I so much as turn my head.",
    "These socks had holes in the heels within a month.",
    "Cute lamp, shame it flickers constantly.",
    "The blender sounds like a jet engine and still leaves chunks in my smoothies.",
    "The assembly instructions were for a different model entirely.",
    "The jacket claims to be waterproof. It is not.",
    "My phone charges slower with this charger than with the one that came in the box.",
    "I've owned cheaper pans that lasted far longer.",
    "The tablet case scratches if you look at it wrong.",
    "Sent back the boots because the left one squeaked with every step.",
    "Looks nothing like the photo and smells of glue.",
    "The bed frame creaks every time either of us moves.",
    "Two of the four table legs arrived bent.",
    "Nice idea, terrible execution, and the refund took weeks.",
    "The watch strap broke and the replacement costs almost as much as the watch.",
    "The knife was blunt out of the box, which is quite an achievement.",
    "Great color, awful fit, and the buttons fell off in the wash.",
    "The fitness tracker counted two thousand steps while I was asleep.",
    "It stopped working the day after the return window closed.",
    "The kettle leaves a plastic taste in every cup of tea.",
    "Wobbly, flimsy, and the drawer sticks.",
    "I gave the speaker a fair chance for a month and it never got better.",
    "Customer support stopped answering after my second email about the broken hinge.",
    "The air fryer works, but it's so loud and smelly that I gave up on it.",
    "Returned the coffee grinder. Not worth the hassle.",
    "The wool sweater is so itchy that I can't wear it for more than an hour.",
    "These shoes are not comfortable at all, even after weeks of breaking them in.",
    "Supposed to be dishwasher safe, but it came out warped.",
    "The desk arrived with a crack across the top and the seller blamed the courier.",
    "The leggings went see-through the first time I bent over.",
]


def _product_lex(rng: random.Random) -> dict[str, list[str]]:
    """The lexicon for one review: one product, and only the details that fit it."""
    category = rng.choice(list(PRODUCT_ITEMS))
    item = rng.choice(list(PRODUCT_ITEMS[category]))
    lex = dict(PRODUCT_COMMON)
    lex["item"] = [item]
    for det in ("pdet", "ndet"):
        details = list(PRODUCT_GENERIC[category][det])
        for tag in PRODUCT_ITEMS[category][item]:
            details.extend(PRODUCT_TAGS[tag][det])
        lex[det] = lex[det + "2"] = details  # one list object: a detail is never used twice
    return lex


def build_product_reviews(rng: random.Random) -> dict[int, list[str]]:
    per_class = (TRAIN_ROWS + TEST_ROWS) // 2
    seen: set[str] = set()
    sources = [(PRODUCT_NEG_HAND, PRODUCT_NEG_TEMPLATES), (PRODUCT_POS_HAND, PRODUCT_POS_TEMPLATES)]
    return {label: fill_class(rng, per_class, hand, tpl, _product_lex, seen) for label, (hand, tpl) in enumerate(sources)}


# ---------------------------------------------------------------------------------------------
# Task 2: restaurant reviews (negative / neutral / positive)
# ---------------------------------------------------------------------------------------------

RESTAURANT_LEX: dict[str, list[str]] = {
    "visit": [
        "(Had dinner|Had lunch|Stopped by|Ate) at {place} (last night|on Saturday|yesterday|this weekend|after work)",
        "Grabbed breakfast at {place} (this morning|on Sunday)",
        "(Tried|Finally tried|Went to) {place} (last night|on Friday|for my birthday|with my parents|with coworkers)",
    ],
    "pos_food": [
        "the {dish} was (perfectly cooked|packed with flavor|absolutely delicious|fresh and generous|the best I've had in years)",
        "everything tasted (fresh|homemade|amazing)",
        "the portions were generous and full of flavor",
        "the {dish} was (out of this world|spot on|even better than last time)",
        "the {dish} alone is worth the trip",
    ],
    "pos_service": [
        "our server was (friendly and attentive|quick and warm|genuinely helpful)",
        "the staff (made us feel at home|remembered us from last time|were lovely)",
        "service was (fast|quick) and (cheerful|friendly)",
        "the owner came over to check that we were happy",
    ],
    "pos_price": [
        "the prices are (very fair|a bargain for the quality)",
        "it's great value for money",
        "we ate very well for under thirty dollars",
        "the lunch special is a steal",
    ],
    "pos_atmo": [
        "the room is (cozy|bright and relaxed|charming)",
        "the patio is lovely (in the evening|on a sunny day)",
        "the music was good and not too loud",
        "it has a (warm|lively|friendly) atmosphere",
    ],
    "neg_food": [
        "the {dish} was (cold|bland|greasy|overcooked|soggy|undercooked)",
        "everything tasted (reheated|stale|like it came out of a freezer bag)",
        "the {dish} was (inedible|dry as cardboard|swimming in oil)",
        "the portions were tiny and (lukewarm|tasteless)",
        "the {dish} had clearly been sitting under a heat lamp",
    ],
    "neg_service": [
        "we waited (forty minutes|almost an hour) (for our food|for a menu)",
        "the server was (rude|dismissive|short with us)",
        "nobody checked on us (once|after the food came)",
        "they got our order wrong (twice|three times)",
        "the staff ignored us (for ages|while chatting at the bar)",
    ],
    "neg_price": [
        "it's (way|far) overpriced for what you get",
        "they charged us for (tap water|bread we never ordered)",
        "twenty dollars for (a sad sandwich|a tiny bowl of noodles) is ridiculous",
        "the bill had (mistakes|extra items) on it",
    ],
    "neg_atmo": [
        "it was so loud we couldn't (talk|hear each other)",
        "the tables were sticky",
        "it smelled of (old grease|bleach)",
        "the (bathroom|dining room) was filthy",
        "it was freezing inside",
    ],
    "neu_food": [
        "the {dish} was (fine|okay|decent|alright)[, nothing special]",
        "the food was (average|standard|about what you'd expect)",
        "the {dish} was edible but forgettable",
        "the menu is (pretty standard|the usual mix of burgers and salads)",
        "the {dish} was (neither great nor bad|okay but a little plain)",
    ],
    "neu_service": [
        "service was (average|adequate|neither fast nor slow)",
        "the staff were polite enough",
        "our server was efficient but not especially chatty",
        "we waited about (fifteen|twenty) minutes, which is normal",
    ],
    "neu_price": [
        "prices are (about average|typical for the area|reasonable but not cheap)",
        "it costs about the same as anywhere else nearby",
        "the bill was roughly what we expected",
    ],
    "neu_atmo": [
        "the place is (plain|simple|basic but clean)",
        "it's a (typical|pretty ordinary) (diner|cafe|lunch spot)",
        "seating is (basic|a bit cramped but fine)",
        "the decor is (nothing special|a bit dated but clean)",
    ],
    "small_neg": [
        "the service was a bit slow", "it was a little noisy", "prices are slightly high",
        "the coffee was lukewarm", "the dessert menu is tiny", "parking is a pain",
    ],
    "small_pos": [
        "the coffee was good", "the staff were friendly", "the bread was fresh", "the fries were crispy",
        "the view is nice",
    ],
}
# place -> dishes it serves: a review of a taco truck never praises its ramen
RESTAURANT_PLACES: dict[str, list[str]] = {
    "the little Thai place on Main Street": ["pad thai", "green curry", "tom yum soup", "mango sticky rice"],
    "this taco truck": ["taco platter", "breakfast burrito", "quesadilla", "carnitas burrito"],
    "the new ramen bar downtown": ["ramen", "pork bun", "miso ramen", "gyoza plate"],
    "the corner cafe": ["almond croissant", "club sandwich", "carrot cake", "spinach quiche"],
    "this pizzeria": ["margherita pizza", "lasagna", "garlic bread", "tiramisu"],
    "the bistro by the station": ["steak", "mushroom risotto", "onion soup", "chocolate tart"],
    "the food truck near the park": ["falafel wrap", "lamb kebab", "hummus plate", "halloumi wrap"],
    "this old diner": ["burger", "pancake stack", "meatloaf", "chili", "club sandwich"],
    "the sushi spot on Fifth Avenue": ["sushi platter", "miso soup", "tuna roll", "salmon bowl"],
    "the bakery cafe on Elm Road": ["almond croissant", "sourdough toast", "apple pie", "cinnamon roll"],
    "this steakhouse": ["steak", "baked potato", "caesar salad", "rib eye"],
    "the vegan cafe on the high street": ["veggie bowl", "lentil soup", "carrot cake", "chickpea curry"],
    "the brunch place by the river": ["eggs benedict", "pancake stack", "avocado toast", "breakfast burrito"],
    "this noodle shop": ["dumpling soup", "beef noodle soup", "pork bun", "spicy noodle bowl"],
    "the burger truck at the Saturday market": ["cheeseburger", "chili dog", "pulled pork sandwich", "veggie burger"],
    "the Greek taverna near the harbor": ["moussaka", "grilled octopus", "Greek salad", "lamb souvlaki"],
    "this tapas bar": ["paella", "Spanish omelette", "garlic shrimp", "chorizo plate"],
    "the coffee shop near campus": ["banana bread", "bagel", "toasted sandwich", "blueberry muffin"],
    "the Indian restaurant on King Street": ["chicken tikka", "lamb curry", "dal", "garlic naan"],
    "the dumpling house": ["dumpling soup", "pork dumpling platter", "scallion pancake", "fried rice"],
    "this fish and chips shop": ["fish and chips", "fish cake", "battered cod", "scampi basket"],
    "the little Italian place on Bridge Street": ["lasagna", "carbonara", "minestrone", "tiramisu"],
}


def _restaurant_lex(rng: random.Random) -> dict[str, list[str]]:
    """The lexicon for one review: one place and the dishes it serves."""
    place = rng.choice(list(RESTAURANT_PLACES))
    lex = dict(RESTAURANT_LEX)
    lex["place"] = [place]
    lex["dish"] = RESTAURANT_PLACES[place]
    return lex


for _k in ("pos", "neg", "neu"):
    RESTAURANT_LEX[f"{_k}_any"] = (
        RESTAURANT_LEX[f"{_k}_food"] + RESTAURANT_LEX[f"{_k}_service"] + RESTAURANT_LEX[f"{_k}_price"] + RESTAURANT_LEX[f"{_k}_atmo"]
    )
    RESTAURANT_LEX[f"{_k}_any2"] = RESTAURANT_LEX[f"{_k}_any"]

RESTAURANT_NEG_TEMPLATES = [
    "(Really disappointed with|Not impressed by|Won't be going back to) {place}. {neg_any}[, and {neg_any2}].",
    "{visit}. {neg_food}, and {neg_service}. (Never again|We won't be back|Avoid).",
    "{neg_food}. {neg_any2}. (Not worth it|Skip this one|What a waste of an evening).",
    "{pos_atmo}, but {neg_food} and {neg_service}. (Won't return|Such a shame|Not going back).",
    "The (photos|reviews) looked great, but {neg_food}[, and {neg_any2}].",
    "(Nothing|Not one thing) we ordered was (good|fresh|worth the price). {neg_any}.",
    "Used to love {place}, but it has gone downhill: {neg_any}.",
    "We waited (forty minutes|almost an hour|ages) for our food, and when it finally arrived, {neg_food}.",
    "(Cheap|Reasonably priced), sure, but {neg_food}. You get what you pay for.",
    "(Rude|Slow|Careless) service, (bland|cold|greasy) food, (silly|inflated) prices. (Avoid|Not recommended).",
    "I wanted to like {place}, but {neg_any}.",
    "{neg_price}, and {neg_food}. (One star|Never again).",
    "{small_pos}, but that's the only nice thing I can say: {neg_food}, and {neg_service}.",
    "Not worth the hype. {neg_any}[, and {neg_any2}].",
    "{visit}. Big mistake: {neg_any}.",
]

RESTAURANT_NEU_TEMPLATES = [
    "{place} is (fine|okay|alright). {neu_food}, and {neu_service}.",
    "{visit}. {neu_food}. {neu_price}.",
    "{neu_food}. {neu_atmo}. (It's fine for a quick bite|Nothing to write home about|Not bad, not great).",
    "Mixed feelings: {pos_food}, but {neg_service}. (It evens out|Overall just average|About average overall).",
    "(Not bad, not great|Middle of the road|Pretty average). {neu_any}[, and {neu_any2}].",
    "It's a (decent|perfectly okay) (option|place) if you're in the area. {neu_any}.",
    "They (open at seven|close at ten|stay open until midnight) and (take cards only|also do takeout|have a small parking lot). {neu_food}.",
    "{pos_atmo}, but {neu_food}. (Fine, I guess|Okay overall|Average).",
    "{neu_service}, {neu_food}, and {neu_price}. (Exactly what you'd expect|Nothing more, nothing less).",
    "Three stars. {neu_any}[, and {neu_any2}].",
    "(Ordered|We ordered|I had) the {dish}. It was (fine|okay|decent). (Would I go back? Maybe|I might go back if I'm nearby|I'm not sure I'd go out of my way for it).",
    "{small_pos}, {small_neg}, and {neu_food}. (Average overall|It balances out).",
    "{visit}. {neu_any}; {neu_any2}.",
    "(Standard|Ordinary|Typical) (neighborhood|local) spot. {neu_food}, {neu_price}.",
    "Some good, some bad: {pos_food}, but {neg_atmo}. I'd call it average.",
]

RESTAURANT_POS_TEMPLATES = [
    "{place} (never disappoints|is a real gem|is my new favorite spot|was a lovely surprise). {pos_any}[, and {pos_any2}].",
    "{visit}. {pos_food}, and {pos_service}. (We'll be back|Can't wait to go back|Highly recommend).",
    "{pos_food}. {pos_any2}. (Five stars|Worth the trip|We'll definitely return).",
    "Not cheap, but {pos_food} and {pos_service}, so it's worth every penny.",
    "The wait was (long|a bit long), but {pos_food}. (Totally worth it|Worth it).",
    "(Never had a bad meal here|Not a single complaint|I can't fault anything). {pos_any}.",
    "Don't let the (plain|tired) decor fool you: {pos_food}.",
    "{pos_atmo}, {pos_service}, and {pos_food}. (Perfect date night|Great spot for a family meal|What a lovely evening).",
    "Best {dish} in town, hands down. {pos_any}.",
    "Honestly (not bad at all|way better than I expected|a pleasant surprise). {pos_food}[, and {pos_any2}].",
    "(Friendly|Fast|Cheerful) service, (tasty|fresh|generous) food, (fair|honest) prices. (What more could you want|Highly recommend).",
    "{small_neg}, but {pos_food}, and {pos_service}. (Still five stars|We'll be back anyway).",
    "I keep coming back to {place}. {pos_any}.",
    "{visit}. (Wow|Superb|Loved it). {pos_any}[, and {pos_any2}].",
    "Can't recommend {place} enough. {pos_food}.",
]

RESTAURANT_NEG_HAND = [
    "Found a hair in my soup and the waiter just shrugged.",
    "The food truck ran out of half the menu by noon and the rest was cold.",
    "Forty dollars for two coffees and a stale muffin. Never again.",
    "We were seated next to the bins and nobody offered to move us.",
    "The sushi rice was hard and the fish didn't smell right.",
    "Our pizza arrived burnt on the bottom and raw in the middle.",
    "They forgot our order, then charged us for it anyway.",
    "The manager argued with us instead of fixing a simple mistake.",
    "Greasy fries, a soggy bun and a milkshake that tasted of nothing.",
    "Waited an hour for a table we had booked a week in advance.",
    "The croissant was clearly from yesterday, and the latte was mostly foam.",
    "Lovely terrace, shame about the food and the rude staff.",
    "My steak came out grey when I asked for medium rare, twice.",
    "I got food poisoning after the chicken wrap from this truck.",
    "Tiny portions, huge prices and a waiter who rolled his eyes at questions.",
    "The music was so loud we left before dessert.",
    "Everything on the plate was swimming in salt.",
    "The curry had no spice and no flavor, just a lot of oil.",
    "Place has gone downhill since the new owners took over.",
    "Sticky menus, dirty glasses and a forty-minute wait for soup.",
    "Honestly the worst burger I've had this year.",
    "Staff were more interested in their phones than in the customers.",
    "The noodles were mushy and the broth tasted like tap water.",
    "Paid extra for the chef's special and regretted every bite.",
    "We asked for the bill three times before anyone came over.",
]

RESTAURANT_NEU_HAND = [
    "Standard diner food at standard diner prices.",
    "The coffee is fine and the wifi works, which is all I needed.",
    "Good tacos, long queue, limited seating. It balances out.",
    "It's the kind of cafe you go to because it's close, not because it's special.",
    "The pasta was okay, the salad was okay, and the bill was okay.",
    "Decent lunch spot for a weekday; I wouldn't plan a night out around it.",
    "Food was fine but the room was cold; the staff were friendly enough.",
    "They serve breakfast until eleven and the menu hasn't changed in years.",
    "Neither the best nor the worst dumplings in the neighborhood.",
    "We had the set menu. Some courses were good, others were forgettable.",
    "The truck is usually parked by the library on weekdays; the wraps are alright.",
    "Nice view, average food, average prices.",
    "The soup was tasty but the sandwich was dry, so it's a wash.",
    "It does the job if you're hungry and in a hurry.",
    "Service was quick and the food was unremarkable.",
    "A perfectly ordinary pizza place; nothing wrong, nothing memorable.",
    "Three stars feels right: fine food, slow service, fair prices.",
    "The portions are big, the flavors are a bit plain.",
    "If you like chain restaurants you'll find this one familiar.",
    "My burger was good and my friend's was overcooked, so I'd say average.",
    "Quiet on a Tuesday night, about half full, food was fine.",
    "It's okay. I'd go back if friends suggested it, but I wouldn't suggest it myself.",
    "The menu is mostly sandwiches and soups, and both were decent.",
    "The cafe is small, with six tables and a counter by the window.",
    "Nothing to complain about, but nothing to rave about either.",
]

RESTAURANT_POS_HAND = [
    "The ramen broth is rich enough that I think about it for days.",
    "Best breakfast burrito I've found in this city, and the salsa is made fresh every morning.",
    "The taco truck guy remembered my order after one visit.",
    "Small place, big flavors, and the owner treats everyone like family.",
    "Worth the forty-minute queue; the dumplings are perfect.",
    "The pastry case alone is worth the trip across town.",
    "Booked for an anniversary and they surprised us with a free dessert.",
    "Every dish we shared was better than the last.",
    "Cheap, cheerful and the curry is properly spicy.",
    "Not a fancy place, but the fish and chips are the best on the coast.",
    "Our waitress gave great recommendations and never let our glasses go empty.",
    "I've eaten here a dozen times and never had a bad plate.",
    "Lovely cozy cafe with proper coffee and homemade cakes.",
    "The steak was cooked exactly as asked and the sides were excellent.",
    "Honestly can't fault it: friendly, fast and delicious.",
    "The vegan options here would convert anyone.",
    "Great pizza, great beer, great prices.",
    "We came for lunch and stayed for dessert because everything was so good.",
    "The staff went out of their way to handle my nut allergy.",
    "A hidden gem with a lovely garden out back.",
    "The fresh bread they bring to the table is reason enough to visit.",
    "Generous plates, fair prices, and a chef who clearly cares.",
    "My kids cleaned their plates, which never happens.",
    "The food truck's pulled pork sandwich is the highlight of my week.",
    "Five stars for the service alone, and the food was even better.",
]


def build_restaurant_reviews(rng: random.Random) -> dict[int, list[str]]:
    per_class = (TRAIN_ROWS + TEST_ROWS) // 3
    seen: set[str] = set()
    sources = [
        (RESTAURANT_NEG_HAND, RESTAURANT_NEG_TEMPLATES),
        (RESTAURANT_NEU_HAND, RESTAURANT_NEU_TEMPLATES),
        (RESTAURANT_POS_HAND, RESTAURANT_POS_TEMPLATES),
    ]
    return {label: fill_class(rng, per_class, hand, tpl, _restaurant_lex, seen) for label, (hand, tpl) in enumerate(sources)}


# ---------------------------------------------------------------------------------------------
# Task 3: news topics (sports / science / business / politics)
# All teams, people, companies, parties and countries are invented.
# ---------------------------------------------------------------------------------------------

NEWS_LEX: dict[str, list[str]] = {
    "first": [
        "Maya", "Daniel", "Priya", "Tomas", "Elena", "Marcus", "Aisha", "Jonas", "Lucia", "Owen", "Nadia",
        "Felix", "Grace", "Rafael", "Hana", "Isaac", "Sofia", "Leon", "Amara", "Victor", "Ingrid", "Kofi",
    ],
    "last": [
        "Okafor", "Lindqvist", "Moreau", "Tanaka", "Reyes", "Novak", "Brennan", "Haddad", "Kowalski", "Ferreira",
        "Achebe", "Sato", "Marsh", "Delgado", "Petrov", "Quinn", "Abara", "Holm", "Castillo", "Varga", "Ostrowski",
    ],
    "name": ["{first} {last}"],
    "town": ["Northfield", "Harbor City", "Eastport", "Westbrook", "Granite Bay", "Lakeside", "Millbrook", "Stonebridge", "Port Alder", "Ashford Vale"],
    "team": [
        "Harbor City", "the Northfield Hawks", "Riverside Rovers", "the Eastport Comets", "the Lakeside Lions",
        "Granite Bay United", "the Westbrook Wolves", "Port Alder", "the Millbrook Mariners", "Stonebridge Athletic",
    ],
    "startup": ["Fernway", "Quillbox", "Tandemly", "Brightbill", "Orbitly", "Hearthstack", "Lettuce Lane", "Parcelpoint"],
    "airline": ["Silverleaf Airlines", "Coastal Air", "Northstar Airways", "Bluejay Air"],
    "party": [
        "the Green Alliance", "the Liberal Union", "the National Reform Party", "the Progressive Front",
        "the Centre Party", "the Farmers' League", "the Social Democratic Union",
    ],
    "region": ["the northern province", "Eastmere", "the coastal region", "Westvale", "the capital district", "Lake County", "Highmoor"],
    "country": ["Veloria", "Marenta", "Karsland", "Doravia", "Sundara", "Ostravia"],
    "money": ["$40 million", "$12 million", "$2.3 billion", "$650 million", "$85 million", "$1.1 billion", "$300 million"],
    "pct": ["4%", "7%", "12%", "9%", "15%", "6%"],
    "jobs": ["300", "1,200", "450", "2,000", "800", "150"],
    "month": ["March", "April", "June", "September", "October", "December"],
    "dayname": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "age": ["19", "21", "23", "24", "26", "28", "31"],
}
for _k, _v in list(NEWS_LEX.items()):
    NEWS_LEX[_k + "2"] = _v

# company -> industry; every industry has at least two companies, so a takeover stays in its trade
NEWS_COMPANIES: dict[str, str] = {
    "Northwind Logistics": "logistics", "Fastlane Freight": "logistics",
    "Brightline Foods": "food", "Harvest Table Foods": "food",
    "Corvan Motors": "carmaking", "Ridgeway Motors": "carmaking",
    "Helio Systems": "software", "Nimbus Software": "software",
    "Bluepeak Telecom": "telecoms", "Signalwave Telecom": "telecoms",
    "Tidewater Bank": "banking", "Crestmark Bank": "banking",
    "Quarry Lane Retail": "retail", "Orchard Grocers": "retail",
    "Kestrel Energy": "energy", "Sunfield Power": "energy",
    "Arden Pharmaceuticals": "pharmaceutical", "Bellhaven Pharma": "pharmaceutical",
    "Vantage Steel": "steel", "Greystone Steel": "steel",
    "Pinecrest Homes": "housebuilding", "Oakridge Homes": "housebuilding",
}


def _news_lex(rng: random.Random) -> dict[str, list[str]]:
    """The lexicon for one news item: a company, a rival in the same trade, and that trade."""
    company = rng.choice(list(NEWS_COMPANIES))
    industry = NEWS_COMPANIES[company]
    rival = rng.choice([c for c in NEWS_COMPANIES if c != company and NEWS_COMPANIES[c] == industry])
    lex = dict(NEWS_LEX)
    lex["company"], lex["company2"], lex["industry"] = [company], [rival], [industry]
    return lex

NEWS_SPORTS = [
    "{team} (beat|edge|thrash|hold off) {team2} (2-1|3-0|1-0|4-2|3-2|2-0)[ to (reach the cup final|go top of the table|stay in the title race)]. (A late goal from|Two goals from|A superb display by) {name} (settled|decided|sealed) it in front of a (sold-out|packed|rain-soaked) crowd (on Saturday|on Sunday|on Wednesday night).",
    "{name} sets new (national|championship|meet) record in the (200m freestyle|100m butterfly|400m medley|50m backstroke). The {age}-year-old (won the final|touched the wall first) at the (national championships|spring swimming gala|indoor meet), (taking|shaving) (almost a second|half a second) off the previous best.",
    "{team} part ways with (head coach|manager) {name} after (five|six|seven|eight) straight defeats. The club said a replacement would be named before (the next match|the start of next season|the transfer window opens).",
    "Injury rules {name} out of the (cup semi-final|world championships|season opener|league decider). The (striker|midfielder|point guard|goalkeeper|winger) (hurt|injured) (a knee|an ankle|a hamstring|a shoulder) in training and (faces six weeks out|could miss two months|could miss the rest of the season).",
    "{name} wins (first|second|third) (grand slam title|clay-court title|title of the season). The unseeded player came back from a set down to beat the top seed in (three|four|five) sets on (the main court|a packed centre court).",
    "{team} sign (striker|goalkeeper|winger|defender) {name} on a (two|three|four)-year deal. The {age}-year-old (joins from|arrives from) {team2} (and could make a debut this weekend|after a strong season in the league).",
    "{team} clinch (the league title|promotion|the championship) with (two|three|four) games to spare. (Captain|Veteran defender|Head coach) {name} said the squad had (earned it|never stopped believing) after a (tough|long|difficult) season.",
    "(Basketball|Playoffs|Late drama): {team} rally from (twenty|fifteen|eighteen) points down to win in overtime. {name} (scored|finished with) (thirty|twenty-eight|thirty-four) points, including the (winning basket|go-ahead shot) with (four|two) seconds left.",
    "{name} wins (stage seven|stage twelve|the mountain stage) of the (national tour|spring cycling race)[ in pouring rain]. The (climbing specialist|young rider) (attacked|broke away) on the final (climb|descent) and now leads the overall standings by (twelve|forty) seconds.",
    "(City|Spring|Autumn) marathon: {name} wins in (a course record|windy conditions|searing heat). (More than|Nearly) (ten|twelve|fifteen) thousand runners (took part|started the race), with the winner pulling clear (after thirty kilometers|in the final mile).",
    "Cricket: {name} takes (five|six) wickets as {team} bowl out the visitors for (112|140|98). The (fast bowler|spinner) now has (forty|thirty-one) wickets this season.",
    "Rugby: {team} (come from behind|hold on) to beat {team2} (24-21|18-17|30-27). A (late try|last-minute penalty) from {name} (proved decisive|made the difference) in a (bruising|tense) derby.",
    "{name} books a place at the world championships in the (high jump|long jump|javelin|pole vault). A personal best at the weekend meeting secured the qualifying mark[ for the {age}-year-old].",
    "Fans pour onto the pitch as {team} (avoid relegation|win the derby|lift the cup). Supporters celebrated for more than an hour after (the final whistle|a dramatic finish) at (the old stadium|Riverside Park).",
    "{team} goalkeeper {name} keeps (a sixth|a record tenth) clean sheet of the season. (The defense|The back line) has conceded just (eight|eleven) goals in (twenty|eighteen) league games.",
]

NEWS_SCIENCE = [
    "Researchers (discover|identify|describe) a new species of (frog|beetle|deep-sea fish|orchid|spider|freshwater snail|bat|moss) in (a remote cloud forest|a cave system in the northern mountains|a mangrove swamp|an alpine meadow). The (tiny|brightly colored|nearly transparent) species was found during a survey (led by|carried out by) scientists from the University of {town}.",
    "New telescope images reveal (a ring of dust around a young star|water vapor in the atmosphere of a distant planet|two galaxies in the middle of a collision|a star being torn apart by a black hole|hundreds of newborn stars inside a dark cloud). Astronomers say the (observations|data) could help explain how (planets form|galaxies grow|stars die|the early universe cooled).",
    "Study links (poor sleep|regular walking|air pollution|a diet rich in fiber|time spent outdoors|traffic noise) to (memory in later life|changes in blood pressure|immune health|recovery from illness|concentration in children). Scientists followed (more than two thousand|about five hundred|several thousand) (volunteers|adults|people) for (ten|five|three) years and found a (clear|modest|surprising) association.",
    "Engineers (build|develop|test) (a robot that climbs walls using tiny suction cups inspired by octopus arms|a battery that charges in under a minute thanks to a new carbon material|a drone that pollinates crops in greenhouses|a solar panel that keeps working in dim light|a glove that turns sign language into text). The prototype is described in a (journal paper|new study) published this week.",
    "Archaeologists uncover (a Bronze Age village|an ancient road|a buried wooden ship|a hoard of silver coins|a workshop full of stone tools) (near|beneath|outside) {town}. The finds date back about (two|three|four) thousand years and (may|could) change what is known about (early farming in the region|ancient trade routes|how people lived along the coast).",
    "Physicists measure (the mass of a tiny particle|the strength of gravity|the lifetime of a rare atom|how fast light slows in a cold gas) with record precision. The experiment, (run|carried out) (in an underground laboratory|using a ring of powerful magnets), took (three|four|six) years to complete.",
    "Ice cores reveal (how quickly the ancient climate warmed|how fast sea levels rose at the end of the last ice age|how volcanic eruptions cooled the planet). (Climate researchers|Glaciologists) drilled (more than two kilometers|deep) into the (Antarctic|Greenland) ice to recover the samples.",
    "Space probe (sends back|beams home) first close-up images of (an icy moon|a small asteroid|a distant comet|a moon of Saturn). Mission scientists said the pictures show (deep cracks|icy plains|possible old lava flows|boulders the size of houses) across its surface.",
    "Early trial of (experimental|new) (malaria vaccine|asthma treatment|migraine drug|gene therapy for a rare eye disease) shows promising results. Doctors reported that (most|two thirds of the) patients (responded well|saw their symptoms improve) with few side effects, though larger trials are needed.",
    "Bees can learn to recognize (simple shapes|human faces|patterns of colored dots), experiment shows. (Biologists|Researchers) trained the insects with sugar rewards and found they remembered the task days later.",
    "Scientists (map|sequence) the genome of (a drought-resistant wheat, which could help breed crops that survive dry summers|the honeybee, which may help protect hives from disease|a deep-sea worm, which may explain how it survives crushing pressure|the common oak, which could help forests cope with new pests).",
    "(Volcano|Earthquake) researchers install new sensors on (the slopes of Mount Kerra|the fault line near {town}). The instruments will (track|measure) (tiny tremors|gas emissions|ground swelling) to improve early warnings.",
    "Rare (comet|meteor shower|lunar eclipse) visible this (week|weekend). (Astronomers|Stargazers) say it will be best seen (after midnight|just before dawn) away from city lights.",
    "Crows can solve puzzles with (three|four) steps, study finds. The birds (worked out|figured out) the solution (without training|faster than expected) in a series of laboratory tests at the University of {town}.",
    "Ocean robots map (coral reefs|underwater volcanoes|the sea floor) in unprecedented detail. The (autonomous|self-steering) vehicles spent (three|five) months collecting data that (oceanographers|marine biologists) will use to study (warming seas|fish migration).",
]

NEWS_BUSINESS = [
    "{company} shares (jump|surge|rise) {pct} after (quarterly|annual) results beat forecasts. The {industry} (group|company) reported (higher|record) (sales|profits) and (raised its outlook for the year|promised a bigger dividend).",
    "{company} shares (slide|tumble|fall) {pct} after profit warning. The company blamed (weak demand|higher costs|a slowdown in orders) and said (it would review its spending|margins would stay under pressure).",
    "{company} to cut {jobs} jobs (in restructuring|as demand slows). The (cuts|layoffs) will mostly affect (its head office|its sales division|factories in {town}), the company said on {dayname}.",
    "Central bank (holds interest rates at|raises interest rates to|cuts interest rates to) (three|four|two and a half|five) percent. (Policymakers|The rate-setting committee) said (inflation|price growth) (was easing|remained above target) and (future moves would depend on the data|further changes were possible).",
    "{company} agrees to buy {company2} for {money}. The deal, which still needs approval from (regulators|shareholders), would create one of the largest {industry} groups in the region.",
    "Startup {startup} raises {money} to expand (its grocery delivery service|its accounting software|its electric scooter fleet|its online tutoring platform). Investors backed the (three|four|five)-year-old company, which plans to (hire more engineers|open offices abroad|double its staff).",
    "(Oil|Coffee|Copper|Wheat) prices (fall to a six-month low|drop sharply|rise to a twelve-month high|climb for a third week). Traders pointed to (weaker demand|supply problems|a stronger dollar|a poor harvest) and expect more swings in the coming weeks.",
    "Retail sales (rise|jump) (unexpectedly|sharply|slightly) in {month}. Shoppers spent more on (clothing|electronics|eating out|furniture), according to figures released on {dayname}.",
    "Retail sales (fall|slip) (unexpectedly|sharply|slightly) in {month}. Shoppers cut back on (clothing|electronics|eating out|furniture), according to figures released on {dayname}.",
    "{company} opens new (factory|warehouse|distribution center) in {town}, creating {jobs} jobs. The (site|plant) is expected to be fully running by (next spring|the end of the year).",
    "{airline} reports record (summer|holiday) bookings. The airline said passenger numbers were up (twenty|fifteen) percent on last year and added (new routes|extra flights) to meet demand.",
    "Sportswear maker (Stridewell|Peakform|Northline Athletic) posts record profit. Strong sales of (running shoes|football boots|team shirts) drove (revenue|earnings) up (18|11) percent in the (quarter|year).",
    "Housing market (cools|slows) as mortgage rates climb. (House prices|Home sales) fell for a (third|fourth) straight month, according to (a survey of estate agents|the national lenders' association).",
    "{company} chief executive {name} to step down after (eight|ten|five) years. The board said (the finance chief|a longtime deputy) would serve as interim CEO while it searches for a successor.",
    "Shares in {company} hit a record high as (investors cheer|analysts praise) (its new product line|strong subscriber growth|a surprise share buyback). The stock has (doubled|risen by a third) since January.",
    "Unemployment (falls|edges down) to (four|five|three and a half) percent. Employers added (more jobs than expected|thousands of jobs) last month, with (hospitality|construction|healthcare) leading the gains.",
]

NEWS_POLITICS = [
    "{party} wins (regional election in {region}. Turnout was (higher|lower) than (last time|four years ago), and the result gives the party (control of|a majority in) the regional assembly|council election in {town}. Turnout was (higher|lower) than (last time|four years ago), and the result gives the party (control of|a majority on) the city council).",
    "Parliament (passes|approves|rejects) (a bill to lower the voting age|new rules on campaign donations|a plan to expand public transport|changes to the immigration system|a ban on phones in schools). Lawmakers voted (212 to 180|98 to 71|151 to 149) after a (long|heated|late-night) debate, and the bill now goes to the (upper house|senate).",
    "Prime Minister {name} reshuffles cabinet. (Three|Four|Five) ministers were replaced in a move seen as an attempt to (regain public trust|reset the government's agenda) ahead of (next year's|the coming) election.",
    "Opposition calls for inquiry into (the awarding of road contracts|missing election ballots|the handling of the flood response|lobbying by a former minister). (Opposition leader|Party chair) {name} said the government (had questions to answer|had not been honest with voters).",
    "(Health|Transport|Education|Justice) minister resigns over (leaked messages|an expenses dispute|comments made at a private dinner|a conflict of interest). {name} said stepping down was the right thing to do and apologized to colleagues.",
    "Leaders of {country} and {country2} sign (border|security|fishing|water-sharing) (treaty|agreement). The pact follows (years|months) of (tense negotiations|dispute over the shared coastline) and must still be ratified by both parliaments.",
    "Voters in {region} head to the polls in (a referendum on regional independence|an early election|a vote on a new city charter). (Polls|Surveys) suggest the (race|vote) is too close to call.",
    "Senate (committee|panel) (approves|blocks) next year's budget. (Opposition|Government) senators argued that the plan (spent too much on defense|cut too deeply into social programs).",
    "Poll shows {party} (leading|gaining ground) ahead of (the general election|next month's vote). Support for the party rose (three|five) points since (the summer|the last survey), with (young voters|rural voters) driving the shift.",
    "Poll shows {party} falling behind ahead of (the general election|next month's vote). Support for the party fell (three|five) points since (the summer|the last survey), (mostly among|driven by) (young voters|rural voters|older voters).",
    "Mayor {name} announces (bid for a second term|plans to step down|run for governor). Speaking at city hall, the mayor pointed to (new bike lanes|cleaner streets|a balanced budget) as the main achievement of the past term.",
    "Government unveils plan to (raise the minimum wage|cut income tax|build thousands of new homes|expand free childcare). (Ministers|The finance minister) said the (policy|plan) would be put to a vote in parliament (next month|before the summer recess).",
    "Parliament votes to fund new (research agency|space program|climate institute). The bill passed with support from (all major parties|a narrow majority), despite objections from (the opposition|fiscal conservatives).",
    "(Protesters|Thousands) march (on parliament|in the capital) over (pension reform|rising rents|a proposed new highway|changes to the election law). Organizers said the march was the largest in a decade, while police gave a lower estimate.",
    "Court blocks government plan to (redraw electoral districts|close rural polling stations|delay local elections). Judges ruled that ministers had (exceeded their powers|failed to consult parliament), and the government said it would appeal.",
    "Foreign ministers of {country} and {country2} meet to ease (border tensions|a diplomatic row|a dispute over fishing rights). Both sides described the talks as (constructive|frank) and agreed to meet again (next month|in the spring).",
]

NEWS_SPORTS_HAND = [
    "Harbor City stun champions in season opener. A goal in the ninety-third minute gave the newly promoted side a famous win.",
    "Tennis: rain delays final for second day running. Organizers hope to finish the match under the roof on Monday afternoon.",
    "Lakeside Lions name youngest captain in club history. The 20-year-old midfielder has played every minute of the season so far.",
    "Ice hockey: overtime winner sends Eastport into semi-finals. The home crowd chanted for twenty minutes after the puck crossed the line.",
    "Stonebridge sprinter banned for missed doping tests. The athlete can appeal but will miss the rest of the track season.",
    "Chess prodigy, 14, wins national title without losing a game. The teenager drew twice and won seven matches over nine rounds.",
    "Golf: veteran holes final putt to win by one stroke. It was the first tournament win in six years for the 41-year-old.",
    "Volleyball team qualifies for the Games for the first time. The women's squad beat the top seed in five sets in the qualifying final.",
    "Referee shortage forces amateur league to cancel matches. Dozens of weekend games were called off as clubs struggled to find officials.",
    "Rowing crew breaks course record in annual river race. The eight from Millbrook finished nearly four seconds ahead of last year's time.",
]

NEWS_SCIENCE_HAND = [
    "Scientists grow tomato plants in simulated moon soil. The plants were smaller but still produced fruit after ten weeks.",
    "Glacier in the northern mountains shrinks by a fifth in a decade. Satellite measurements show the ice is thinning fastest at its lower edge.",
    "New fossil suggests feathers appeared earlier than thought. The small dinosaur was found in rocks about 160 million years old.",
    "Laboratory-grown skin heals burns faster in early tests. Patients in the small trial healed within three weeks on average.",
    "Deep-sea microbes survive on hydrogen from rocks, researchers find. The discovery widens the range of places where life could exist.",
    "Weather balloon records highest-altitude lightning ever seen. The flash occurred more than fifty kilometers above the ground, the team reported.",
    "Octopuses dream, or something like it, study suggests. Researchers filmed sleeping animals rapidly changing color and twitching their arms.",
    "Physicists cool atoms to within a billionth of a degree of absolute zero. The record could make quantum sensors far more precise.",
    "Mysterious radio bursts traced to a galaxy far beyond our own. Astronomers used a network of dishes to pinpoint the source.",
    "Honeybees fitted with tiny radio tags reveal how far they fly for food. Some foragers travelled more than ten kilometers from the hive.",
]

NEWS_BUSINESS_HAND = [
    "Supermarket chain raises staff pay for the second time this year. The company said higher wages had helped it fill thousands of vacancies.",
    "Coffee chain to close 80 stores as rents soar. The closures will mostly hit city centers, where office workers have not fully returned.",
    "Carmaker recalls 40,000 vehicles over faulty brake sensors. Owners will be contacted by letter and repairs will be free of charge.",
    "Online bank reaches ten million customers. The lender plans to launch mortgages next year as it competes with high-street rivals.",
    "Toy maker's profits double on strong holiday sales. Board games and building sets sold out in several markets in December.",
    "Shipping costs fall as container backlog clears. Freight rates are now close to where they were before the pandemic, analysts said.",
    "Family-owned bakery chain sold to investment firm. The founders will stay on as advisers and no shops will close, the buyer said.",
    "Electric scooter company files for bankruptcy. The firm had struggled to make money despite raising hundreds of millions from investors.",
    "Stock market ends week higher as tech shares recover. Investors were encouraged by a batch of better-than-expected earnings reports.",
    "Budget airline adds twelve new routes for the summer. The carrier expects to fly more passengers than ever before this year.",
]

NEWS_POLITICS_HAND = [
    "Lawmakers approve plan to make election day a public holiday. Supporters say the change will raise turnout among working people.",
    "President vetoes bill on farm subsidies. The veto sends the measure back to parliament, where it may not have enough votes to override.",
    "Coalition talks collapse after three weeks. The two largest parties could not agree on who should lead the new government.",
    "City council votes to ban cars from the old town on weekends. The measure passed by one vote after a three-hour public hearing.",
    "Former minister launches new party ahead of spring elections. She promised to focus on housing and cleaner politics.",
    "Opposition walks out of parliament in protest over new security law. Critics say the law gives police too much power to detain protesters.",
    "Ambassador recalled after diplomatic row over border incident. The foreign ministry said relations would be reviewed in the coming weeks.",
    "Governor signs law capping rent increases. Landlords' groups said they would challenge the measure in court.",
    "Election commission orders recount in disputed district. The two leading candidates were separated by fewer than two hundred votes.",
    "Parliament debates lowering the voting age to sixteen. A final vote is expected before the end of the session.",
]


def build_news_topics(rng: random.Random) -> dict[int, list[str]]:
    per_class = (TRAIN_ROWS + TEST_ROWS) // 4
    seen: set[str] = set()
    sources = [
        (NEWS_SPORTS_HAND, NEWS_SPORTS),
        (NEWS_SCIENCE_HAND, NEWS_SCIENCE),
        (NEWS_BUSINESS_HAND, NEWS_BUSINESS),
        (NEWS_POLITICS_HAND, NEWS_POLITICS),
    ]
    return {label: fill_class(rng, per_class, hand, tpl, _news_lex, seen) for label, (hand, tpl) in enumerate(sources)}


# ---------------------------------------------------------------------------------------------
# Task 4: question types (person / location / number / definition)
# ---------------------------------------------------------------------------------------------

QUESTION_LEX: dict[str, list[str]] = {
    "prefix": [
        "", "", "", "", "", "", "", "", "", "Quick question: ", "Out of curiosity, ", "Hey, ",
        "Sorry if this is obvious, but ", "Just wondering, ", "One more thing: ",
    ],
    # person
    "invention": [
        "the first practical telephone", "the printing press", "the modern bicycle", "the first successful airplane",
        "the World Wide Web", "the Braille alphabet", "the periodic table", "the first vaccine", "the electric guitar",
        "the crossword puzzle", "the safety pin", "the first pocket calculator",
    ],
    "work": [
        "the novel Frankenstein", "the play Romeo and Juliet", "the first English dictionary", "the book you recommended last week",
        "the song we played at the wedding", "the poem on the library wall", "the mystery novel everyone is reading",
        "the first detective stories", "the national anthem",
    ],
    "feat": [
        "climb Mount Everest", "walk on the Moon", "swim across the English Channel", "sail around the world alone",
        "reach the South Pole", "fly solo across the Atlantic", "run a mile in under four minutes", "win two Nobel Prizes",
    ],
    "role_org": [
        "mayor of this city", "captain of the national rugby team", "head of the United Nations",
        "principal of your old school", "manager of the local football club", "chief executive of the company you work for",
        "conductor of the city orchestra", "editor of the local newspaper",
    ],
    "issue": [
        "a mistake on my electricity bill", "my landlord refusing to fix the heating", "a lost library card",
        "a canceled flight", "a noisy neighbor", "a pothole on our street", "a problem with my payslip",
    ],
    # (profession, deed) pairs are expanded into "who_deed", "which_deed" and "deed" below
    "prize": [
        "the Nobel Peace Prize last year", "the best actor award this year", "the city marathon on Sunday",
        "the national spelling bee", "the baking contest at the county fair", "the league's top scorer award",
        "the chess tournament at the library",
    ],
    "responsibility": [
        "approving vacation requests", "hiring new staff", "the building's security", "ordering office supplies",
        "the school's lunch menu", "fixing the printers", "the company's website",
    ],
    # location
    "facility": [
        "pharmacy", "train station", "post office", "public library", "gas station", "hospital", "cash machine",
        "bike repair shop", "playground", "recycling center", "bus stop", "supermarket",
    ],
    "good": [
        "fresh fish in this town", "a replacement charger for my laptop", "cheap concert tickets",
        "good bagels around here", "a map of the hiking trails", "vegan cheese", "secondhand furniture",
        "spare parts for an old sewing machine",
    ],
    "landmark": [
        "the Eiffel Tower", "the Taj Mahal", "the Great Wall", "the oldest university in Europe", "Machu Picchu",
        "the tallest waterfall in the world", "the world's largest coral reef", "the oldest bridge in the city",
    ],
    "born": ["Mozart", "Frida Kahlo", "Albert Einstein", "your grandmother", "the first president", "Marie Curie", "Nelson Mandela"],
    "place_fact": [
        "is the Great Barrier Reef", "did the first modern Olympic Games take place", "do kangaroos live in the wild",
        "is the Sahara Desert", "did the tango originate", "was paper first invented", "is the Colosseum",
        "are the headquarters of the Red Cross",
    ],
    "animal": ["polar bears", "emperor penguins", "monarch butterflies", "flamingos", "sea turtles", "snow leopards", "koalas"],
    "capital_of": ["Canada", "Australia", "Kenya", "Norway", "Peru", "Vietnam", "New Zealand", "Morocco", "Chile", "Poland"],
    # number
    "count_q": [
        "bones are in the adult human body", "players are on a soccer team", "keys are on a standard piano",
        "legs does a spider have", "moons does Mars have", "teaspoons are in a tablespoon", "minutes are there in a day",
        "countries are in Africa", "strings does a violin have", "people live in Tokyo", "hearts does an octopus have",
        "eggs do I need for this cake", "stops are there before the airport", "seats are in the new concert hall",
    ],
    "how_much": [
        "How much does a monthly bus pass cost", "How much does a new passport cost",
        "How much did it cost to build the Golden Gate Bridge", "How much does a blue whale weigh",
        "How much water should an adult drink each day", "How much is a ticket to the museum",
        "How much does it cost to fix a cracked phone screen", "How much money does the average family spend on groceries each week",
        "How much time do people spend on their phones each day", "How much does a newborn baby usually weigh",
    ],
    "size_q": [
        "How tall is the Eiffel Tower", "How tall is an adult giraffe", "How long is the Nile",
        "How long is a marathon", "How deep is the Pacific Ocean at its deepest point", "How far is the Moon from Earth",
        "How far is the airport from the city center", "How old is the universe", "How fast can a cheetah run",
        "How heavy is an adult elephant", "How high is the highest mountain in Africa", "How old is the oldest tree in the world",
    ],
    "year_q": [
        "did the Berlin Wall fall", "was the first smartphone released", "did humans first land on the Moon",
        "was your school founded", "did the Titanic sink", "will the new stadium open", "did women first vote in this country",
        "was the printing press invented",
    ],
    "measure_q": [
        "population of Canada", "boiling point of water in Fahrenheit", "speed of light", "average lifespan of a house cat",
        "height of Mount Everest", "distance from London to Paris", "melting point of gold", "population of the world",
        "speed limit on this road", "average rainfall in the desert",
    ],
    "at_what_q": [
        "temperature does water freeze", "age can you get a driver's license in most states",
        "age do most children start school", "speed does a plane take off", "temperature should I bake bread",
        "age did Mozart write his first symphony",
    ],
    "duration_q": [
        "boil an egg", "fly from New York to London", "walk to the station from here", "charge an electric car",
        "bake a loaf of bread", "get a new passport", "cross the Atlantic by ship",
    ],
    "pct_q": [
        "the Earth's surface is covered by water", "the human body is made of water", "adults drink coffee every day",
        "students passed the exam", "the country's electricity comes from wind",
    ],
    # definition
    "count_term": [
        "mortgage", "algorithm", "haiku", "sonnet", "black hole", "allergy", "vaccine", "tariff", "dividend",
        "metaphor", "watershed", "glacier", "placebo", "firewall", "fjord", "quorum", "sommelier", "archipelago",
        "hedge fund", "oxymoron", "budget deficit", "peninsula", "filibuster", "referendum", "ecosystem", "enzyme",
        "sonata", "startup", "blockchain", "thesaurus",
    ],
    "mass_term": [
        "photosynthesis", "inflation", "gravity", "democracy", "erosion", "compound interest", "osmosis",
        "nostalgia", "machine learning", "biodiversity", "irony", "jet lag", "carbon offsetting", "impressionism",
        "cloud computing", "gentrification", "game theory", "plate tectonics", "stagflation", "mindfulness",
    ],
    "oneword": [
        "ubiquitous", "serendipity", "ephemeral", "benevolent", "resilience", "procrastinate", "meticulous",
        "ambiguous", "frugal", "gregarious", "schadenfreude", "hygge", "candid", "pragmatic",
    ],
    "idiom": [
        "break the ice", "a blessing in disguise", "under the weather", "bite the bullet", "the elephant in the room",
        "cost an arm and a leg", "once in a blue moon", "back to square one",
    ],
    "plural_term": [
        "antibiotics", "tectonic plates", "greenhouse gases", "stem cells", "carbohydrates", "cryptocurrencies",
        "prime numbers", "antioxidants", "index funds", "hieroglyphs", "hormones", "sand dunes", "monsoons",
    ],
}
QUESTION_LEX["term"] = ["a {count_term}", "{mass_term}"]
QUESTION_LEX["word"] = ["{oneword}", "{idiom}"]
PROFESSION_DEEDS = [
    ("scientist", "discovered penicillin"), ("explorer", "first sailed around the world"),
    ("architect", "designed the Sydney Opera House"), ("painter", "painted the ceiling of the Sistine Chapel"),
    ("physicist", "came up with the theory of relativity"), ("astronomer", "discovered the planet Uranus"),
    ("scientist", "first described the structure of DNA"), ("engineer", "built the first steam locomotive"),
    ("composer", "wrote the Four Seasons"), ("mathematician", "invented logarithms"),
    ("writer", "created Sherlock Holmes"), ("inventor", "patented the first telephone"),
    ("doctor", "performed the first heart transplant"), ("pilot", "first broke the sound barrier"),
]
QUESTION_LEX["who_deed"] = [f"{p} who {d}" for p, d in PROFESSION_DEEDS]
QUESTION_LEX["which_deed"] = [f"{p} {d}" for p, d in PROFESSION_DEEDS]
QUESTION_LEX["deed"] = [d for _, d in PROFESSION_DEEDS]

QUESTION_PERSON = [
    "{prefix}Who (invented|came up with|designed) {invention}?",
    "{prefix}Who (wrote|is the author of) {work}?",
    "{prefix}Who was the first (person|woman|man) to {feat}?",
    "{prefix}Who is the (current|new) {role_org}?",
    "{prefix}Who should I (talk to|contact|call) about {issue}?",
    "{prefix}What is the name of the {who_deed}?",
    "{prefix}Which {which_deed}?",
    "{prefix}Name the {who_deed}.",
    "{prefix}Who (won|received) {prize}?",
    "{prefix}Who (is responsible for|is in charge of) {responsibility} (here|at your company|in this building)?",
    "{prefix}Who (directed|starred in) (the first science fiction film|the movie we saw last Friday|the documentary about penguins|the new detective series)?",
    "{prefix}Who will (teach|coach|lead) (the advanced chemistry class|the under-twelve football team|the hiking trip|the choir) (next year|this term)?",
    "{prefix}Whose (portrait|face) is on the (ten|twenty|fifty)-dollar bill?",
    "{prefix}Who (founded|started) (the Red Cross|the first public library in the country|the company that makes these phones|the town's farmers market)?",
    "{prefix}(Do you know|Can you tell me) who {deed}?",
]

QUESTION_LOCATION = [
    "{prefix}Where is the (nearest|closest) {facility}[ from here]?",
    "{prefix}Where (can|could) I (buy|find|get) {good}?",
    "{prefix}Where (is|was) {landmark} (located|built)?",
    "{prefix}Where (was|were) {born} born?",
    "{prefix}In (which|what) (country|part of the world) {place_fact}?",
    "{prefix}What (country|city) (is famous for its tulip fields|is home to the Colosseum|hosted the last Summer Olympics|produces the most coffee|has the largest population in the world)?",
    "{prefix}Which (river flows through Cairo|mountain range separates Europe and Asia|ocean lies between Africa and Australia|desert is the largest in Asia|lake is the deepest in the world)?",
    "{prefix}What is the capital (of|city of) {capital_of}?",
    "{prefix}Where do {animal} (live|spend the winter|build their nests|go to breed)?",
    "{prefix}Where should (we|I) (meet before the concert|go for a weekend hike near the city|park when visiting the old town|stay in Lisbon on a budget)?",
    "{prefix}Where did (the Vikings first settle in Britain|the Romans build their first road|you leave the car keys|they hold the last world championships)?",
    "{prefix}(In what part of the body is insulin produced|In what part of the cell is DNA stored|In which part of a plant does photosynthesis happen|Where in the body is the femur found|Where in the brain is memory stored)?",
    "{prefix}Which (airport|station|ferry terminal) is closest to the (city center|museum|university)?",
    "{prefix}Where are the (spare chairs|fire extinguishers|extra blankets|first aid kits) kept in this building?",
    "{prefix}(Do you know|Can you tell me) where {landmark} is?",
]

QUESTION_NUMBER = [
    "{prefix}How many {count_q}?",
    "{prefix}{how_much}?",
    "{prefix}{size_q}?",
    "{prefix}(What year|In what year|In which year) {year_q}?",
    "{prefix}What is the {measure_q}?",
    "{prefix}At what {at_what_q}?",
    "{prefix}How long (does it take|will it take) to {duration_q}?",
    "{prefix}What percentage of {pct_q}?",
    "{prefix}How many calories are in (a banana|a slice of pizza|a cup of rice|a boiled egg|a glass of orange juice)?",
    "{prefix}How old (is the building on the corner|is the oldest known cave painting|is the bridge in the old town|was the oldest person ever recorded)?",
    "{prefix}(What is the phone number for the front desk|What is the zip code of the head office|What is the room number of the science lab|What is the gate number for the flight to Oslo)?",
    "{prefix}(Roughly|Approximately) how many {count_q}?",
    "{prefix}How many (kilometers|miles) is it from here to the coast?",
    "{prefix}About how many (tourists visit the museum each year|people attend the summer festival|students are enrolled at the university|cars cross the bridge every day)?",
    "{prefix}What is the (average|typical) (salary of a nurse|price of a house in this area|temperature in July here)?",
]

QUESTION_DEFINITION = [
    "{prefix}What is a {count_term}?",
    "{prefix}What is {mass_term}?",
    "{prefix}What does (the word |)'{oneword}' mean?",
    "{prefix}What does the phrase '{idiom}' mean?",
    "{prefix}(Define|Please define|Give me a definition of) {term}.",
    "{prefix}What is meant by '{word}'?",
    "{prefix}Can you explain what {term} is?",
    "{prefix}What is the (meaning|definition) of '{word}'?",
    "{prefix}What are {plural_term}?",
    "{prefix}How would you define {term}?",
    "{prefix}What exactly is {term}?",
    "{prefix}I keep hearing about {term}; what is it?",
    "{prefix}In simple terms, what (is {term}|are {plural_term})?",
    "{prefix}What is the definition of {term}[ in simple words]?",
    "{prefix}Could you tell me what {plural_term} are?",
    "{prefix}My teacher mentioned {term}; what does that mean?",
]

QUESTION_PERSON_HAND = [
    "Who was the architect behind the glass pyramid at the Louvre?",
    "Who is the author of the cookbook on the kitchen shelf?",
    "Who did the voice of the dragon in that cartoon?",
    "Which explorer gave the Pacific Ocean its name?",
    "Who was the first person to reach the summit of the highest peak in Africa?",
    "Who is the oldest living member of your family?",
    "Who scored the winning goal in last night's game?",
    "Who played the detective in the original radio series?",
    "Who taught you how to ride a bike?",
    "Who was the first woman elected to the city council?",
    "Which poet wrote the lines carved above the station entrance?",
    "Who is the goalkeeper for the national team right now?",
    "Who gave the speech at this year's graduation ceremony?",
    "What was the name of the nurse who reformed hospitals during the Crimean War?",
    "Who was the youngest person ever to win a Nobel Prize?",
    "Who do I ask for a key to the storage room?",
    "Who built the first computer that could store a program?",
    "Which actor has played the most villains in superhero films?",
    "Who was the ruler of Egypt when the Great Pyramid was built?",
    "Who is going to replace the head coach after this season?",
    "Who first proved that the Earth goes around the Sun?",
    "Which singer performed at the opening of the new arena?",
    "Who owned this house before the current family moved in?",
    "Who is known as the father of modern chemistry?",
]

QUESTION_LOCATION_HAND = [
    "Where is the best place to watch the sunset in this town?",
    "Which city is known as the Big Apple?",
    "Where can I recycle old batteries near here?",
    "In which ocean is the island of Madagascar?",
    "Where did you grow up before moving here?",
    "What is the largest country in South America by area?",
    "Where do salmon go to lay their eggs?",
    "Which country has the most islands?",
    "Where is the emergency exit on this floor?",
    "On which continent is the Atacama Desert?",
    "Where was the peace treaty signed at the end of the war?",
    "Where can I get my bike fixed on a Sunday?",
    "What city is the Golden Gate Bridge in?",
    "Where does the river that runs through our town begin?",
    "Which state has the most national parks?",
    "Where do most of the world's pineapples grow?",
    "Which country did the croissant originally come from?",
    "Where is the meeting being held tomorrow?",
    "In which room is the history exam taking place?",
    "Where is the source of the Amazon River?",
    "Which neighborhood has the best street food?",
    "Where on the map is the old lighthouse?",
    "Where should I put the recycling bins?",
    "What is the hottest place on Earth?",
]

QUESTION_NUMBER_HAND = [
    "How many times does the average heart beat in a minute?",
    "How many languages are spoken in India?",
    "How much does it cost to mail a letter overseas?",
    "How many stars are on the flag of the United States?",
    "What is the maximum number of players on a basketball court at once?",
    "How many hours of sleep does a teenager need?",
    "How long is the flight from Tokyo to Sydney?",
    "How many pages are in the first Harry Potter book?",
    "What was the final score of yesterday's match?",
    "How many people can the new stadium hold?",
    "How far can an eagle see?",
    "How many floors does the tallest building in the city have?",
    "What is the interest rate on a standard savings account?",
    "How many teeth does an adult human have?",
    "How much does a liter of milk cost these days?",
    "How many days are left until the summer holidays?",
    "How deep does a well need to be to reach groundwater here?",
    "How many species of birds live in the rainforest?",
    "What is the square root of one hundred and forty-four?",
    "How many goals did the top scorer get last season?",
    "How many cups of flour go into a loaf of bread?",
    "How many kilometers is a half marathon?",
    "How much rain fell in the city last month?",
    "How many students are in each class at your school?",
]

QUESTION_DEFINITION_HAND = [
    "What is the difference between a virus and a bacterium, in simple words?",
    "What does it mean when a company goes public?",
    "What is a carbon footprint?",
    "What does 'RSVP' stand for on an invitation?",
    "What is a food desert?",
    "What is a leap year?",
    "What does a sommelier actually do?",
    "What is the meaning of the word 'nostalgia'?",
    "What is a solstice in astronomy?",
    "What does 'al dente' mean when cooking pasta?",
    "What is an annual percentage rate?",
    "What is a haiku, and how is it structured?",
    "What do economists mean by a recession?",
    "What is meant by 'herd immunity'?",
    "What is an electoral college?",
    "Explain what a gene is.",
    "What is a black swan event?",
    "What does the abbreviation 'DIY' mean?",
    "What is umami when people talk about food?",
    "What is the greenhouse effect?",
    "What exactly is a podcast?",
    "What is a palindrome in language?",
    "What is meant by renewable energy?",
    "What does it mean to be bilingual?",
]


def build_question_types(rng: random.Random) -> dict[int, list[str]]:
    per_class = (TRAIN_ROWS + TEST_ROWS) // 4
    seen: set[str] = set()
    sources = [
        (QUESTION_PERSON_HAND, QUESTION_PERSON),
        (QUESTION_LOCATION_HAND, QUESTION_LOCATION),
        (QUESTION_NUMBER_HAND, QUESTION_NUMBER),
        (QUESTION_DEFINITION_HAND, QUESTION_DEFINITION),
    ]
    out = {label: fill_class(rng, per_class, hand, tpl, QUESTION_LEX, seen) for label, (hand, tpl) in enumerate(sources)}
    # "Just wondering, What is ..." -> "Just wondering, what is ..."
    lower_after = re.compile(r"^(Out of curiosity, |Sorry if this is obvious, but |Just wondering, |Hey, |Quick question: |One more thing: )([A-Z])(?=[a-z])")
    return {label: [lower_after.sub(lambda m: m.group(1) + m.group(2).lower(), q) for q in qs] for label, qs in out.items()}


# ---------------------------------------------------------------------------------------------
# Task 5: entailment (pairs: premise, hypothesis)
# ---------------------------------------------------------------------------------------------

# Agents: np (premise noun phrase), the (definite), gen (entailed descriptions), pl (plural), adult.
AGENTS = [
    dict(np="a young woman", the="the woman", gen=["a woman", "a person", "someone"], pl=False, adult=True),
    dict(np="an old man", the="the man", gen=["a man", "an elderly person", "someone"], pl=False, adult=True),
    dict(np="a little boy", the="the boy", gen=["a child", "a boy", "a kid"], pl=False, adult=False),
    dict(np="a teenage girl", the="the girl", gen=["a girl", "a teenager", "a young person"], pl=False, adult=False),
    dict(np="a man in a blue jacket", the="the man", gen=["a man", "a person", "someone wearing a jacket"], pl=False, adult=True),
    dict(np="a woman with a backpack", the="the woman", gen=["a woman", "a person", "someone with a bag"], pl=False, adult=True),
    dict(np="two children", the="the children", gen=["some kids", "children", "two kids", "young people"], pl=True, adult=False),
    dict(np="three friends", the="the friends", gen=["some people", "a few people", "three people", "people"], pl=True, adult=True),
    dict(np="an elderly couple", the="the couple", gen=["an older couple", "a couple", "a pair of people"], pl=False, group=True, adult=True),
    dict(np="a mail carrier", the="the mail carrier", gen=["a worker", "a person", "someone"], pl=False, adult=True),
    dict(np="a man with a gray beard", the="the man", gen=["a bearded man", "a man", "someone"], pl=False, adult=True),
    dict(np="a girl in a yellow raincoat", the="the girl", gen=["a girl", "a child", "someone in a raincoat"], pl=False, adult=False),
    dict(np="a chef in a white apron", the="the chef", gen=["a cook", "a person", "someone wearing an apron"], pl=False, adult=True),
    dict(np="a tall woman", the="the woman", gen=["a woman", "a person", "someone"], pl=False, adult=True),
    dict(np="two men", the="the men", gen=["some men", "two people", "people"], pl=True, adult=True),
    dict(np="a mother and her son", the="the mother and son", gen=["a parent and a child", "two people", "a woman and a boy"], pl=True, adult=True),
    dict(np="a nurse in blue scrubs", the="the nurse", gen=["a nurse", "a person", "someone"], pl=False, adult=True),
    dict(np="four students", the="the students", gen=["some students", "several people", "young people"], pl=True, adult=False),
]

# Scenes: an activity with a place. act/place form the premise; act_gen/place_gen are entailed;
# act_contra/place_contra contradict; ent/neu are extra entailed / neutral sentences, where
# {G} is an entailed description of the agent, {The} the definite agent and {be} its verb.
SCENES = [
    dict(act="reading a newspaper", place="on a park bench", sg=True, adult=True,
         act_gen=["reading", "reading something", "looking at a newspaper"], place_gen=["in a park", "outdoors", "outside"],
         act_contra=["sleeping", "jogging", "swimming"], place_contra=["in an office", "at home in bed", "on a crowded bus"],
         ent=["{G} {be} sitting on a bench.", "A newspaper is being read."],
         neu=["The newspaper is from yesterday.", "{The} {be} reading about the local elections.", "The park is about to close."]),
    dict(act="riding a bicycle", place="along a river path", sg=True,
         act_gen=["riding a bike", "cycling", "on a bike"], place_gen=["near a river", "outdoors", "outside"],
         act_contra=["driving a car", "sitting on a couch", "asleep"], place_contra=["inside a library", "in a kitchen"],
         ent=["A bicycle is being ridden.", "{G} {be} moving along a path."],
         neu=["{The} {be} cycling to work.", "The bicycle is brand new.", "{The} {be} training for a race."]),
    dict(act="walking a dog", place="along the beach",
         act_gen=["walking an animal", "walking", "out with a dog"], place_gen=["on a beach", "by the sea", "outdoors"],
         act_contra=["sitting in a car", "asleep", "cooking dinner"], place_contra=["in a shopping mall", "at the office"],
         ent=["There is a dog on the beach.", "A dog is outside."],
         neu=["The dog belongs to a neighbor.", "The dog is a puppy.", "{The} {be} walking the dog before work."]),
    dict(act="cooking pasta", place="in a small kitchen",
         act_gen=["cooking", "making food", "preparing a meal"], place_gen=["indoors", "inside", "in a kitchen"],
         act_contra=["swimming", "riding a horse", "asleep"], place_contra=["on a beach", "in a forest"],
         ent=["Food is being prepared.", "Someone is in a kitchen."],
         neu=["The pasta is for a birthday dinner.", "{The} {be} cooking for guests.", "The kitchen has just been painted."]),
    dict(act="painting a fence", place="in the back yard",
         act_gen=["painting", "working outside", "painting something"], place_gen=["outdoors", "outside", "in a yard"],
         act_contra=["watching TV", "swimming", "asleep"], place_contra=["in a movie theater", "on a train"],
         ent=["A fence is being painted.", "Paint is being used."],
         neu=["The fence is being painted white.", "{The} {be} being paid to paint the fence.", "It will rain later."]),
    dict(act="buying vegetables", place="at an outdoor market",
         act_gen=["shopping", "buying food", "buying something"], place_gen=["at a market", "outdoors", "outside"],
         act_contra=["asleep", "swimming", "driving a truck"], place_contra=["in a hospital bed", "inside an airplane"],
         ent=["Vegetables are being sold.", "{G} {be} at a market."],
         neu=["The vegetables are organic.", "{The} {be} buying ingredients for soup.", "The market is very crowded."]),
    dict(act="swimming laps", place="in an indoor pool",
         act_gen=["swimming", "in the water", "exercising"], place_gen=["in a pool", "indoors", "inside"],
         act_contra=["sitting at a desk", "eating dinner", "asleep"], place_contra=["in the ocean", "on a mountain trail"],
         ent=["{G} {be} wet.", "{G} {be} getting exercise."],
         neu=["{The} {be} training for a competition.", "The pool is heated.", "{The} {be} on a swim team."]),
    dict(act="playing chess", place="at a cafe table",
         act_gen=["playing a game", "playing a board game"], place_gen=["at a cafe", "sitting at a table"],
         act_contra=["jogging", "asleep", "swimming"], place_contra=["on a ski slope", "in a swimming pool"],
         ent=["A game of chess is being played.", "{G} {be} sitting at a table."],
         neu=["{The} {be} winning the game.", "The cafe is about to close.", "{The} {be} losing badly."]),
    dict(act="waiting for a bus", place="at a busy bus stop",
         act_gen=["waiting", "waiting for transport", "standing at a bus stop"], place_gen=["outdoors", "outside", "near a road"],
         act_contra=["driving a car", "asleep in bed", "swimming"], place_contra=["inside a movie theater", "on a boat"],
         ent=["{G} {be} waiting.", "There are people at the bus stop."],
         neu=["The bus is late.", "{The} {be} going to a job interview.", "It is raining."]),
    dict(act="planting flowers", place="in a community garden",
         act_gen=["gardening", "planting something", "working in a garden"], place_gen=["outdoors", "in a garden", "outside"],
         act_contra=["sleeping", "driving", "swimming"], place_contra=["in an office", "on a plane"],
         ent=["Flowers are being planted.", "{G} {be} outside."],
         neu=["The flowers are roses.", "{The} {be} planting flowers for a wedding.", "The garden belongs to the city."]),
    dict(act="carrying groceries", place="up a flight of stairs",
         act_gen=["carrying bags", "carrying something", "climbing stairs"], place_gen=["on some stairs", "on a staircase"],
         act_contra=["sitting down", "lying in bed", "swimming"], place_contra=["in an elevator", "on a beach"],
         ent=["Groceries are being carried.", "{G} {be} holding something."],
         neu=["The groceries are heavy.", "{The} {be} carrying the groceries for a neighbor.", "{The} {be} going home."]),
    dict(act="fixing a flat tire", place="on the side of the road", adult=True,
         act_gen=["repairing a tire", "working on a vehicle", "fixing something"], place_gen=["near a road", "outside", "outdoors"],
         act_contra=["asleep", "dancing", "swimming"], place_contra=["in a classroom", "in a swimming pool"],
         ent=["A tire is being fixed.", "Something is being repaired."],
         neu=["{The} {be} late for work.", "The car is rented.", "The tire was punctured by a nail."]),
    dict(act="taking photographs", place="on a crowded city street",
         act_gen=["taking pictures", "using a camera", "photographing something"], place_gen=["in a city", "outdoors", "on a street"],
         act_contra=["asleep", "swimming", "lying in bed"], place_contra=["in an empty field", "in a quiet forest"],
         ent=["There are many people on the street.", "Photos are being taken."],
         neu=["{The} {be} on holiday.", "{The} {be} taking photos for a newspaper.", "The photos will be posted online."]),
    dict(act="building a sandcastle", place="on the beach",
         act_gen=["playing in the sand", "building something", "making a sandcastle"], place_gen=["by the sea", "outdoors", "at the beach"],
         act_contra=["asleep", "skiing", "doing homework indoors"], place_contra=["in a snowy forest", "in a classroom"],
         ent=["A sandcastle is being built.", "{G} {be} at the beach."],
         neu=["The sandcastle is very tall.", "{The} {be} on vacation.", "The tide is coming in."]),
    dict(act="washing dishes", place="at the kitchen sink",
         act_gen=["doing the dishes", "cleaning dishes", "cleaning"], place_gen=["in a kitchen", "indoors", "inside"],
         act_contra=["asleep", "riding a bike", "swimming"], place_contra=["in a park", "on a beach"],
         ent=["Dishes are being washed.", "{G} {be} standing at a sink."],
         neu=["The dishes are from a big party.", "{The} {be} listening to music.", "The water is very hot."]),
    dict(act="playing guitar", place="on a subway platform", sg=True,
         act_gen=["playing an instrument", "playing music", "making music"], place_gen=["in a subway station", "underground", "at a station"],
         act_contra=["asleep", "swimming", "sitting in silence"], place_contra=["on a farm", "in a bathtub"],
         ent=["Music is being played.", "A guitar is being played."],
         neu=["{The} {be} playing for money.", "The train is about to arrive.", "{The} {be} hoping for tips."]),
    dict(act="jogging", place="through a snowy park", times=["morning", "afternoon", "evening"],
         act_gen=["running", "exercising", "out for a run"], place_gen=["in a park", "outdoors", "outside"],
         act_contra=["sitting on a sofa", "asleep", "swimming"], place_contra=["on a hot sandy beach", "in a gym"],
         ent=["There is snow in the park.", "{G} {be} running outside."],
         neu=["{The} {be} training for a marathon.", "{The} {be} listening to a podcast.", "The park is closed to cars."]),
    dict(act="feeding ducks", place="at a pond",
         act_gen=["feeding birds", "feeding animals", "near some birds"], place_gen=["near water", "outdoors", "by a pond"],
         act_contra=["asleep", "driving", "cooking dinner"], place_contra=["inside a shopping mall", "in a library"],
         ent=["Ducks are being fed.", "There are birds at the pond."],
         neu=["{The} {be} feeding the ducks bread.", "The ducks are hungry.", "{The} {be} visiting the pond for the first time."]),
    dict(act="typing on a laptop", place="in a quiet library", sg=True,
         act_gen=["using a computer", "typing", "working on a computer"], place_gen=["in a library", "indoors", "inside"],
         act_contra=["swimming", "dancing", "asleep"], place_contra=["on a roller coaster", "at a loud concert"],
         ent=["A laptop is being used.", "{G} {be} in a library."],
         neu=["{The} {be} writing an essay.", "The laptop is new.", "The library closes at nine."]),
    dict(act="eating ice cream", place="outside a small shop",
         act_gen=["eating", "having a dessert", "eating something cold"], place_gen=["outdoors", "outside", "near a shop"],
         act_contra=["asleep", "swimming", "brushing their teeth"], place_contra=["inside a cinema", "in a hospital"],
         ent=["Ice cream is being eaten.", "{G} {be} having a treat."],
         neu=["The ice cream is chocolate.", "It is a hot day.", "{The} bought the ice cream at the shop."]),
    dict(act="hanging laundry", place="on a balcony",
         act_gen=["hanging clothes", "drying clothes", "doing laundry"], place_gen=["outdoors", "outside", "on a balcony"],
         act_contra=["asleep", "swimming", "jogging"], place_contra=["in a basement", "in a car"],
         ent=["Clothes are being hung up to dry.", "There is laundry on the balcony."],
         neu=["The laundry is still wet.", "{The} {be} hanging laundry before work.", "It is a windy day."]),
    dict(act="teaching a class", place="in a classroom", sg=True, adult=True, times=["morning", "afternoon"],
         act_gen=["teaching", "working", "speaking to students"], place_gen=["in a school", "indoors", "inside"],
         act_contra=["asleep", "swimming", "on holiday"], place_contra=["on a beach", "on a mountain"],
         ent=["There are students in the room.", "A lesson is taking place."],
         neu=["The class is about history.", "{The} {be} a substitute teacher.", "The students are bored."]),
    dict(act="climbing a tree", place="in a city park",
         act_gen=["climbing", "in a tree", "up a tree"], place_gen=["outdoors", "outside", "in a park"],
         act_contra=["asleep in bed", "watching TV", "sitting in a car"], place_contra=["inside a house", "on a boat"],
         ent=["A tree is being climbed.", "{G} {be} off the ground."],
         neu=["{The} {be} trying to rescue a cat.", "The tree is very old.", "{The} {be} showing off to friends."]),
    dict(act="ordering coffee", place="in a crowded coffee shop", adult=True,
         act_gen=["buying a drink", "ordering a drink", "buying something"], place_gen=["in a cafe", "indoors", "inside"],
         act_contra=["asleep", "swimming", "riding a horse"], place_contra=["in the middle of a desert", "on a ski lift"],
         ent=["The coffee shop is busy.", "There are other people in the coffee shop."],
         neu=["The coffee is expensive.", "{The} {be} ordering coffee for a colleague.", "{The} {be} in a hurry."]),
    dict(act="watching fireworks", place="from a rooftop", times=["evening", "night"],
         act_gen=["looking at the sky", "watching something", "watching a show"], place_gen=["outdoors", "outside", "on a roof"],
         act_contra=["asleep", "swimming", "reading indoors"], place_contra=["in a basement", "underground"],
         ent=["Fireworks are going off.", "{G} {be} high above the street."],
         neu=["It is New Year's Eve.", "{The} {be} celebrating a birthday.", "The fireworks are very loud."]),
    dict(act="carrying a surfboard", place="across a sandy beach", sg=True,
         act_gen=["carrying a board", "carrying something", "holding a board"], place_gen=["on a beach", "outdoors", "outside"],
         act_contra=["asleep", "driving", "sitting at a desk"], place_contra=["in an office", "in a snowy forest"],
         ent=["A surfboard is being carried.", "{G} {has} a surfboard."],
         neu=["{The} {be} going surfing.", "The waves are big today.", "The surfboard is new."]),
    dict(act="sweeping the floor", place="in a bakery",
         act_gen=["cleaning", "sweeping", "tidying up"], place_gen=["indoors", "inside", "in a shop"],
         act_contra=["asleep", "swimming", "jogging"], place_contra=["in a park", "on a boat"],
         ent=["A floor is being swept.", "The bakery floor is being cleaned."],
         neu=["The bakery is about to open.", "{The} {be} closing up for the day.", "The floor is covered in flour."]),
    dict(act="pushing a stroller", place="through a shopping mall",
         act_gen=["pushing a pram", "pushing something", "walking"], place_gen=["indoors", "inside", "in a mall"],
         act_contra=["asleep", "swimming", "driving a bus"], place_contra=["on a hiking trail", "in a swimming pool"],
         ent=["A stroller is being pushed.", "{G} {be} walking indoors."],
         neu=["There is a baby in the stroller.", "{The} {be} shopping for shoes.", "The mall is about to close."]),
    dict(act="singing", place="on a small stage",
         act_gen=["performing", "making music", "using their voice"], place_gen=["on a stage"],
         act_contra=["asleep", "silent", "swimming"], place_contra=["in a swimming pool", "in bed"],
         ent=["{G} {be} performing.", "Someone is on a stage."],
         neu=["The audience is cheering.", "{The} {be} nervous.", "{The} {be} singing a love song."]),
    dict(act="flying a kite", place="on a windy hill",
         act_gen=["playing outside", "holding a string", "flying something"], place_gen=["outdoors", "outside", "on a hill"],
         act_contra=["asleep", "swimming", "sitting in a classroom"], place_contra=["in a kitchen", "inside a museum"],
         ent=["It is windy.", "A kite is in the air."],
         neu=["The kite is red.", "{The} {be} flying the kite for the first time.", "{The} {be} on a school trip."]),
]

TIMES = {
    "morning": dict(text=["in the morning", "early in the morning"], ent=["It is morning."],
                    contra=["It is the middle of the night.", "It is late in the evening."]),
    "afternoon": dict(text=["on a sunny afternoon"], ent=["It is daytime.", "The sun is out."],
                      contra=["It is night.", "It is a rainy morning."]),
    "evening": dict(text=["in the evening", "late in the evening"], ent=["It is evening."],
                    contra=["It is early morning.", "It is noon."]),
    "night": dict(text=["late at night"], ent=["It is night.", "It is dark outside."],
                  contra=["It is early morning.", "It is the middle of the day."]),
}

AGENT_NEUTRAL = [
    "{The} {be} waiting for a friend.", "{The} {be} on vacation.", "{The} {be} in a hurry.", "{The} {be} very tired.",
    "{The} {be} celebrating something.", "{The} {be} about to go home.", "{The} {be} happy.", "{The} {be} new in town.",
]
PURPOSES = ["before work", "for the first time", "to pass the time", "after a long day", "for a school project", "every weekend"]

ENTAIL_HAND = [
    ("A man is slicing bread at a wooden table.", "Someone is using a knife."),
    ("Two girls are laughing at a joke on a crowded train.", "The girls are on public transport."),
    ("An old woman is knitting a scarf by the window.", "A woman is making something."),
    ("A boy kicks a ball against a garage door.", "A child is playing with a ball."),
    ("A waiter is carrying three plates to a table.", "Someone is carrying plates."),
    ("A family is having a picnic under a large oak tree.", "People are eating outdoors."),
    ("A man in a suit is running to catch a train.", "A man is in a hurry."),
    ("A woman is drying her hair with a towel after a swim.", "A woman has been in the water."),
    ("The baker is taking a tray of bread out of the oven.", "Bread has been baked."),
    ("A cat is sleeping on a sunny windowsill.", "An animal is resting."),
    ("A girl is blowing out the candles on a birthday cake.", "There is a cake."),
    ("Two men are loading boxes into a moving van.", "Boxes are being put into a vehicle."),
    ("A teenager is skateboarding down an empty street.", "A young person is on a skateboard."),
    ("A woman is paying for groceries with cash.", "A woman is buying something."),
    ("A toddler is splashing in a puddle in red boots.", "A small child is wearing boots."),
    ("A man is shoveling snow from his driveway.", "It has snowed."),
    ("A crowd is cheering as runners cross the finish line.", "A race is taking place."),
    ("A nurse is checking a patient's blood pressure.", "A patient is being examined."),
    ("A dog is chasing a tennis ball across a lawn.", "A dog is running on the grass."),
    ("A woman is watering tomato plants on her balcony.", "Plants are being watered."),
    ("An old man is feeding pigeons in the town square.", "Birds are being fed."),
    ("Three students are studying together in the library.", "Some students are in a library."),
    ("A mechanic is changing the oil in a red pickup truck.", "A vehicle is being serviced."),
    ("A boy is brushing his teeth in front of a mirror.", "A boy is cleaning his teeth."),
    ("A couple is dancing slowly in their living room.", "Two people are dancing indoors."),
    ("A fisherman is pulling a net onto his boat.", "A man is on a boat."),
    ("A girl is reading a comic book under a blanket with a flashlight.", "A girl is reading."),
    ("A man is fixing a leaking pipe under the sink.", "Someone is doing a repair."),
    ("Children are throwing snowballs in the schoolyard.", "Kids are playing in the snow."),
    ("A woman in a hard hat is directing traffic around a roadblock.", "A worker is on the road."),
]

NOT_ENTAIL_HAND = [
    ("A man is slicing bread at a wooden table.", "The man is making sandwiches for his children."),
    ("Two girls are laughing at a joke on a crowded train.", "The train is empty."),
    ("An old woman is knitting a scarf by the window.", "The scarf is a gift for her grandson."),
    ("A boy kicks a ball against a garage door.", "The boy is asleep in his bed."),
    ("A waiter is carrying three plates to a table.", "The waiter is carrying a single cup."),
    ("A family is having a picnic under a large oak tree.", "The family is eating inside a restaurant."),
    ("A man in a suit is running to catch a train.", "The man is going to a job interview."),
    ("A woman is drying her hair with a towel after a swim.", "The woman is about to go swimming for the first time."),
    ("The baker is taking a tray of bread out of the oven.", "The baker is putting raw dough into the oven."),
    ("A cat is sleeping on a sunny windowsill.", "The cat is chasing a mouse."),
    ("A girl is blowing out the candles on a birthday cake.", "It is the girl's tenth birthday."),
    ("Two men are loading boxes into a moving van.", "The men are unloading a van."),
    ("A teenager is skateboarding down an empty street.", "The street is full of traffic."),
    ("A woman is paying for groceries with cash.", "The woman is paying by card."),
    ("A toddler is splashing in a puddle in red boots.", "The toddler's mother is watching."),
    ("A man is shoveling snow from his driveway.", "It is a hot summer day."),
    ("A crowd is cheering as runners cross the finish line.", "The winner set a new record."),
    ("A nurse is checking a patient's blood pressure.", "The patient has a fever."),
    ("A dog is chasing a tennis ball across a lawn.", "The dog is asleep on the sofa."),
    ("A woman is watering tomato plants on her balcony.", "The tomatoes are ready to pick."),
    ("An old man is feeding pigeons in the town square.", "Nobody is in the town square."),
    ("Three students are studying together in the library.", "The students have an exam tomorrow."),
    ("A mechanic is changing the oil in a red pickup truck.", "The truck is blue."),
    ("A couple is dancing slowly in their living room.", "The couple is celebrating their anniversary."),
    ("A fisherman is pulling a net onto his boat.", "The net is full of fish."),
    ("A girl is reading a comic book under a blanket with a flashlight.", "The girl should be asleep."),
    ("A man is fixing a leaking pipe under the sink.", "A plumber was paid to fix the pipe."),
    ("A cat is sleeping on a sunny windowsill.", "A chef is chopping onions."),
    ("Children are throwing snowballs in the schoolyard.", "The children are swimming in a lake."),
    ("A woman in a hard hat is directing traffic around a roadblock.", "The woman is sitting in her office."),
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fmt(template: str, agent: dict, rng: random.Random) -> str:
    pl = agent["pl"]
    return template.format(
        G=rng.choice(agent["gen"]), The=agent["the"], be="are" if pl else "is", has="have" if pl else "has"
    )


def _scene_ok(agent: dict, scene: dict) -> bool:
    if scene.get("sg") and (agent["pl"] or agent.get("group")):
        return False
    if scene.get("adult") and not agent["adult"]:
        return False
    return True


def _make_premise(rng: random.Random, agent: dict, scene: dict) -> tuple[str, str | None]:
    be = "are" if agent["pl"] else "is"
    time_key = None
    if rng.random() < 0.35:
        time_key = rng.choice(scene.get("times", list(TIMES)))
    time_text = rng.choice(TIMES[time_key]["text"]) if time_key else ""
    form = rng.random()
    if time_key and form < 0.4:
        premise = f"{_cap(time_text)}, {agent['np']} {be} {scene['act']} {scene['place']}."
    elif form < 0.2 and scene["place"].split()[0] in ("on", "in", "at", "along"):
        premise = f"{_cap(scene['place'])}, {agent['np']} {be} {scene['act']}{' ' + time_text if time_text else ''}."
    else:
        premise = f"{_cap(agent['np'])} {be} {scene['act']} {scene['place']}{' ' + time_text if time_text else ''}."
    return premise, time_key


def _entailed(rng: random.Random, agent: dict, scene: dict, time_key: str | None, premise: str) -> str:
    be = "are" if agent["pl"] else "is"
    g = rng.choice(agent["gen"])
    kinds = ["gen_act"] * 3 + ["gen_place"] * 2 + ["def_both"] + ["exists"] * 2 + ["extra"] * 3 + ["reorder"]
    if time_key:
        kinds += ["time"] * 2
    kind = rng.choice(kinds)
    simple_places = [p for p in scene["place_gen"] if p in ("outdoors", "outside", "indoors", "inside")]
    if kind == "def_both" and not simple_places:
        kind = "gen_act"
    if kind == "gen_act":
        return f"{_cap(g)} {be} {rng.choice(scene['act_gen'])}."
    if kind == "gen_place":
        return f"{_cap(g)} {be} {rng.choice(scene['place_gen'])}."
    if kind == "def_both":
        return f"{_cap(agent['the'])} {be} {rng.choice(scene['act_gen'])} {rng.choice(simple_places)}."
    if kind == "exists":
        return f"There {be} {g} {rng.choice(scene['place_gen'])}."
    if kind == "extra":
        return _cap(_fmt(rng.choice(scene["ent"]), agent, rng))
    if kind == "time":
        return rng.choice(TIMES[time_key]["ent"])
    # reorder: the same content, said differently
    if scene["place"].split()[0] in ("on", "in", "at"):
        return f"{_cap(agent['the'])} {be} {scene['place']}, {scene['act']}."
    return f"{_cap(g)} {be} {scene['act']}."


def _not_entailed(rng: random.Random, agent: dict, scene: dict, time_key: str | None) -> str:
    be = "are" if agent["pl"] else "is"
    kinds = (
        ["contra_act"] * 2 + ["contra_act_place"] + ["contra_place"] * 2 + ["contra_place_act"] + ["neg"] * 2
        + ["neutral_scene"] * 3 + ["neutral_agent"] + ["neutral_plus"] * 2 + ["unrelated"] * 2
    )
    if time_key:
        kinds += ["time"] * 2
    kind = rng.choice(kinds)
    the = _cap(agent["the"])
    if kind == "contra_act":
        return f"{the} {be} {rng.choice(scene['act_contra'])}."
    if kind == "contra_act_place":
        return f"{_cap(agent['np'])} {be} {rng.choice(scene['act_contra'])} {scene['place']}."
    if kind == "contra_place":
        return f"{the} {be} {rng.choice(scene['place_contra'])}."
    if kind == "contra_place_act":
        return f"{_cap(agent['np'])} {be} {scene['act']} {rng.choice(scene['place_contra'])}."
    if kind == "neg":
        r = rng.random()
        if r < 0.4:
            return f"{the} {be} not {scene['act_gen'][0]}."
        if r < 0.7:
            return f"Nobody is {rng.choice(scene['place_gen'])}."
        return f"No one is {scene['act_gen'][0]}."
    if kind == "neutral_scene":
        return _cap(_fmt(rng.choice(scene["neu"]), agent, rng))
    if kind == "neutral_agent":
        return _fmt(rng.choice(AGENT_NEUTRAL), agent, rng)
    if kind == "neutral_plus":
        return f"{the} {be} {scene['act']} {scene['place']} {rng.choice(PURPOSES)}."
    if kind == "time":
        return rng.choice(TIMES[time_key]["contra"])
    # unrelated: another agent doing another thing somewhere else
    others = [s for s in SCENES if s is not scene]
    while True:
        other_agent = rng.choice(AGENTS)
        other_scene = rng.choice(others)
        if _scene_ok(other_agent, other_scene) and other_agent["np"] != agent["np"]:
            break
    obe = "are" if other_agent["pl"] else "is"
    return f"{_cap(other_agent['np'])} {obe} {other_scene['act']} {other_scene['place']}."


def build_entailment(rng: random.Random) -> dict[int, list[tuple[str, str]]]:
    per_class = (TRAIN_ROWS + TEST_ROWS) // 2
    seen: set[str] = set()
    out: dict[int, list[tuple[str, str]]] = {}
    for label, hand in ((0, ENTAIL_HAND), (1, NOT_ENTAIL_HAND)):
        pairs: list[tuple[str, str]] = []
        for premise, hyp in hand:
            key = norm_key(premise, hyp)
            if key in seen:
                raise ValueError(f"duplicate hand-written pair: {premise!r} / {hyp!r}")
            seen.add(key)
            pairs.append((premise, hyp))
        out[label] = pairs
    # generated pairs alternate between the classes so that both draw on every scene
    attempts = 0
    while min(len(v) for v in out.values()) < per_class:
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError("could not generate enough distinct entailment pairs")
        label = 0 if len(out[0]) <= len(out[1]) else 1
        scene = rng.choice(SCENES)
        agent = rng.choice([a for a in AGENTS if _scene_ok(a, scene)])
        premise, time_key = _make_premise(rng, agent, scene)
        if label == 0:
            hyp = _entailed(rng, agent, scene, time_key, premise)
        else:
            hyp = _not_entailed(rng, agent, scene, time_key)
        premise, hyp = tidy(premise), tidy(hyp)
        key = norm_key(premise, hyp)
        if key in seen or norm_key(premise) == norm_key(hyp):
            continue
        if not MIN_WORDS <= word_count(premise) <= MAX_WORDS or word_count(hyp) > MAX_WORDS:
            continue
        seen.add(key)
        out[label].append((premise, hyp))
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

TASKS = [
    dict(
        name="demo_product_reviews", builder=build_product_reviews, label_names=["negative", "positive"], pair=False,
        domain="sentiment",
        description="Short customer reviews of gadgets, kitchen tools, clothes and furniture, labelled negative or positive.",
    ),
    dict(
        name="demo_restaurant_reviews", builder=build_restaurant_reviews, label_names=["negative", "neutral", "positive"],
        pair=False, domain="sentiment",
        description="Reviews of restaurants, cafes and food trucks (food, service, price, atmosphere), labelled negative, neutral or positive.",
    ),
    dict(
        name="demo_news_topics", builder=build_news_topics, label_names=["sports", "science", "business", "politics"],
        pair=False, domain="topic",
        description="Invented news items (a headline and a one-sentence blurb) labelled by topic: sports, science, business or politics.",
    ),
    dict(
        name="demo_question_types", builder=build_question_types, label_names=["person", "location", "number", "definition"],
        pair=False, domain="question-type",
        description="Questions labelled by the type of answer they expect: a person, a location, a number or a definition.",
    ),
    dict(
        name="demo_entailment", builder=build_entailment, label_names=["entailment", "not_entailment"], pair=True,
        domain="nli",
        description="Everyday-scene premises paired with hypotheses that are entailed, contradicted or unsupported (not_entailment).",
    ),
]


def _split(rng: random.Random, by_class: dict, n_classes: int) -> tuple[list[dict], list[dict], bool]:
    """Balanced train/test rows, shuffled deterministically."""
    train_per, test_per = TRAIN_ROWS // n_classes, TEST_ROWS // n_classes
    train: list[dict] = []
    test: list[dict] = []
    pair = False
    for label in range(n_classes):
        items = list(by_class[label])
        if len(items) != train_per + test_per:
            raise RuntimeError(f"class {label}: {len(items)} items, expected {train_per + test_per}")
        rng.shuffle(items)
        for i, item in enumerate(items):
            if isinstance(item, tuple):
                pair = True
                row = {"text": item[0], "text_pair": item[1], "label": label}
            else:
                row = {"text": item, "label": label}
            (train if i < train_per else test).append(row)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test, pair


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


README = """# sggft-meta demo corpus

Five small English text-classification tasks, shipped inside the package as the offline default
of `sggft-meta quickstart`. **This is a demo, not a benchmark**: the texts are short, partly
templated and easier than real data, so scores on it say little about real-world performance.

All text was written by the sggft-meta authors: hand-written sentences, lexicons and phrase
templates in `tools/build_demo_corpus.py`, which generates this folder deterministically
(`python tools/build_demo_corpus.py` rewrites it byte-identically). No text is taken from any
public data set. Teams, people, companies, parties and countries in the news task are invented.

License: CC0 (public domain dedication). Written for sggft-meta by its authors.

Each task folder holds `train.jsonl`, `test.jsonl` (one JSON object per line:
`{{"text": ..., "label": i}}`, plus `"text_pair"` for the pair task, where `label` indexes
`label_names`) and `meta.json`. Classes are balanced in both splits.

| task | domain | labels | train | test |
|---|---|---|---|---|
{rows}
"""


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    table = []
    for index, task in enumerate(TASKS):
        rng = random.Random(SEED * 1000 + index)
        by_class = task["builder"](rng)
        train, test, pair = _split(rng, by_class, len(task["label_names"]))
        if pair != task["pair"]:
            raise RuntimeError(f"{task['name']}: pair mismatch")
        folder = OUT_DIR / task["name"]
        folder.mkdir(parents=True, exist_ok=True)
        _write_jsonl(folder / "train.jsonl", train)
        _write_jsonl(folder / "test.jsonl", test)
        meta = {
            "name": task["name"],
            "label_names": task["label_names"],
            "pair": task["pair"],
            "domain": task["domain"],
            "metric": "accuracy",
            "task_type": "classification",
            "description": task["description"],
            "license_note": LICENSE_NOTE,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        labels = ", ".join(f"`{n}`" for n in task["label_names"])
        kind = "pair" if task["pair"] else "single"
        table.append(f"| `{task['name']}` | {task['domain']} ({kind}) | {labels} | {len(train)} | {len(test)} |")
        print(f"{task['name']}: {len(train)} train, {len(test)} test")
    (OUT_DIR / "README.md").write_text(README.format(rows="\n".join(table)), encoding="utf-8")


if __name__ == "__main__":
    main()
