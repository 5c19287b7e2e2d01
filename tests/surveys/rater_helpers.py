"""Surveys for the rater-flow tests (Django test client and browser): distinctive model names,
item keys and item ids, so a test can scan every page a rater sees for them."""

from __future__ import annotations

import itertools
import json
import re

from django.core import signing
from django.db.models import Max

from surveys.models import Item, Survey
from surveys.services import Design, ItemSpec, survey_create, survey_open
from surveys.views import CONSENT_SALT

MODELS = ("VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)")
COMPARISONS = ((MODELS[1], MODELS[0]), (MODELS[2], MODELS[1]), (MODELS[3], MODELS[2]))
CODE = "QZX7DONE41"
# Item ids far above anything the test database hands out, and unlike any number a page shows
# (each survey's ids start above every id there is).
FIRST_ITEM_PK = 987_601
ITEM_PK_STEP = 37

# Original sentence, then two reconstructions (what a pairwise question shows).
RECONSTRUCTIONS = [
    ("she opened the door and walked into the garden .",
     "she opened the door and walked into the kitchen .",
     "she opened the window and looked at the garden ."),
    ("he had never seen so many people in one room .",
     "he had never seen so many people in the room .",
     "he had not seen many of the people in one house ."),
    ("i think we should go home before it gets dark .",
     "i think we should go home before it gets late .",
     "i think you should go back before the dark ."),
    ("the old man sat by the fire and said nothing .",
     "the old man sat by the fire and said something .",
     "the man sat near the fire and did nothing ."),
    ("they walked along the river for almost an hour .",
     "they walked along the road for almost an hour .",
     "they walked down the river for an hour or two ."),
    ("my mother always told me to be kind to strangers .",
     "my mother always told me to be nice to strangers .",
     "my mother told me never to talk to strangers ."),
    ("we did not expect the letter to arrive so soon .",
     "we did not expect the news to arrive so soon .",
     "we did expect the letter to come so late ."),
    ("the children were playing in the snow all morning .",
     "the children were playing in the park all morning .",
     "the children played in the snow in the morning ."),
    ("he put the book back on the shelf and left .",
     "he put the book back on the table and left .",
     "he took the book from the shelf and stayed ."),
    ("it was the coldest winter anyone could remember .",
     "it was the longest winter anyone could remember .",
     "it was a cold winter that no one remembered ."),
    ("she smiled at him but did not say a word .",
     "she smiled at him but did not say anything .",
     "she looked at him and said a few words ."),
    ("the train was late again and nobody was surprised .",
     "the train was late again and everybody was surprised .",
     "the bus was late and nobody was there again ."),
]  # fmt: skip

SENTENCES = [
    "the dog ran across the field to meet its owner .",
    "i could not find my keys anywhere this morning .",
    "she wrote a long letter to her sister in paris .",
    "the rain stopped just before the game began .",
    "he asked whether the shop would open on sunday .",
    "we spent the whole afternoon talking about music .",
    "the teacher smiled and closed the heavy book .",
    "nobody knew where the little boat had gone .",
    "they bought fresh bread from the baker on the corner .",
    "my brother wants to be a doctor when he grows up .",
    "the light in the hall was still on at midnight .",
    "a cold wind blew through the empty streets .",
]


def pairwise_items(per_comparison: int = 4) -> list[ItemSpec]:
    triplets = itertools.cycle(RECONSTRUCTIONS)
    specs = []
    for c, (model_1, model_2) in enumerate(COMPARISONS):
        for i in range(per_comparison):
            source, text_1, text_2 = next(triplets)
            specs.append(
                ItemSpec(
                    key=f"itemkey-p{c}{i}-qv",
                    model_1=model_1,
                    text_1=text_1,
                    model_2=model_2,
                    text_2=text_2,
                    source=source,
                )
            )
    return specs


def meaningfulness_items(per_model: int = 3) -> list[ItemSpec]:
    sentences = itertools.cycle(SENTENCES)
    return [
        ItemSpec(key=f"itemkey-m{m}{i}-qv", model_1=model, text_1=next(sentences))
        for m, model in enumerate(MODELS)
        for i in range(per_model)
    ]


def make_survey(
    kind: str,
    *,
    name: str = "Study ZETA-internal",
    cap: int | None = None,
    instructed: int = 1,
    gold: int = 1,
    items: list[ItemSpec] | None = None,
    open_it: bool = True,
    **design,
) -> Survey:
    """A survey of `kind` with the four paper models, its items renumbered to distinctive ids."""
    pairwise = kind == Survey.Kind.PAIRWISE
    if items is None:
        items = pairwise_items() if pairwise else meaningfulness_items()
    if cap is None:
        cap = 6 if pairwise else 8
    design.setdefault("completion_code", CODE)
    survey = survey_create(
        name=name,
        kind=kind,
        items=items,
        design=Design(cap=cap, instructed_checks=instructed, gold_checks=gold, **design),
    )
    start = max(FIRST_ITEM_PK, (Item.objects.aggregate(top=Max("pk"))["top"] or 0) + 1)
    for n, pk in enumerate(survey.items.order_by("pk").values_list("pk", flat=True)):
        Item.objects.filter(pk=pk).update(id=start + n * ITEM_PK_STEP)
    return survey_open(survey) if open_it else survey


def secrets_of(survey: Survey) -> tuple[list[str], list[int]]:
    """What no rater-facing byte may contain: words (model names, item keys, the side map's
    values, the survey's internal name; any case) and numbers (item ids)."""
    words = ["vae", "autogen", "annealing", "m=1", "m=2", "m%3d", "model_1", "model_2"]
    words += [*MODELS, survey.name]
    words += [key for key in survey.items.values_list("key", flat=True)]
    return words, list(survey.items.values_list("pk", flat=True))


# Random values a page or header carries (CSRF tokens, the signed consent form, cookie values):
# scanned after decoding where they hold data, and blanked out before the plain scan, since a
# short secret like "vae" turns up by chance in enough random base64.
FORM_VALUES = re.compile(r'name="(csrfmiddlewaretoken|consent)" value="([^"]*)"')
COOKIE_VALUES = re.compile(r"\b(csrftoken|resume)=\"?([^;\"\s]*)")


def leaks(text: str, survey: Survey) -> list[str]:
    """The secrets of `survey` that `text` (a page, a header, a file) shows; an id counts as a
    whole number only. The consent form's signed payload is decoded and scanned too."""
    randoms = {survey.token, *survey.raters.values_list("token", flat=True)}
    decoded = []
    for name, value in FORM_VALUES.findall(text) + COOKIE_VALUES.findall(text):
        randoms.add(value)
        if name == "consent":
            payload = signing.loads(value, salt=CONSENT_SALT)
            randoms.add(payload["token"])
            decoded.append(json.dumps(payload))
    plain = "\n".join([text, *decoded])
    for value in sorted(randoms, key=len, reverse=True):
        if value:
            plain = plain.replace(value, " ")
    words, ids = secrets_of(survey)
    lowered = plain.lower()
    found = [word for word in words if word.lower() in lowered]
    found += [
        str(pk) for pk in ids if re.search(rf"(?<![A-Za-z0-9_-]){pk}(?![A-Za-z0-9_-])", plain)
    ]
    return found
