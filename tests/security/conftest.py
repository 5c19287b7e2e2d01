"""Security tests: who reaches what, hostile input, safe exports.

Personas (as in tests/surveys/test_admin.py):
- An outsider: not logged in.
- Bob, a rater: an active account, not staff.
- Charlie: staff, without any permission.
- Vera: staff who may view everything, and change, add or delete nothing.
- Alice: a superuser (proves each URL walked is real: she gets no 4xx from it but a 404).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver

from models_core.models import Corpus, CorpusImport, DecodeJob, Decoding, Experiment
from models_core.services import runs
from surveys.models import Rater, Response, Survey
from surveys.services import rater_answer, rater_next, rater_start
from tests.surveys.rater_helpers import make_survey


@pytest.fixture(autouse=True)
def private_cache(settings, tmp_path):
    """The configured cache backend (Redis in CI), with keys of this test's own: rate-limit
    counters of other tests (or of other test runs on this machine) never count here."""
    caches = copy.deepcopy(settings.CACHES)
    default = caches["default"]
    if default["BACKEND"].endswith("FileBasedCache"):
        default["LOCATION"] = str(tmp_path / "cache")
    default["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


def user(name: str, *, staff: bool = False, perms=None, superuser: bool = False) -> User:
    person = User.objects.create_user(name, password="x", is_staff=staff or superuser)
    person.is_superuser = superuser
    person.save()
    if perms is not None:
        person.user_permissions.set(perms)
    return person


@pytest.fixture
def bob(db) -> User:
    return user("bob")


@pytest.fixture
def charlie(db) -> User:
    return user("charlie", staff=True)


@pytest.fixture
def vera(db) -> User:
    return user("vera", staff=True, perms=Permission.objects.filter(codename__startswith="view_"))


@pytest.fixture
def alice(db) -> User:
    return user("alice", superuser=True)


@dataclass
class World:
    """One object of every model the admin shows, and a rater who answered once."""

    survey: Survey
    rater: Rater
    objects: dict[type, object]


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    settings.DATA_DIR = tmp_path / "data"
    survey = make_survey(Survey.Kind.PAIRWISE, name="Study OMEGA-internal")
    rater = rater_start(survey, external_id="r-1", platform_data={})
    slot = rater_next(rater).slot
    rater_answer(rater, slot.position, "left" if slot.is_check else "discard")
    rater = rater_start(survey, external_id="r-2", platform_data={})
    while not (page := rater_next(rater)).finished and not Response.objects.exists():
        rater_answer(rater, page.slot.position, "left")
    corpus = Corpus.objects.create(
        name="tiny-corpus", source="a.txt", fmt="lines", vocab_size=50, min_len=1, max_len=20,
        seed=0, test_fraction=0.1, n_train=400, n_test=40,
    )  # fmt: skip
    experiment = Experiment.objects.create(corpus=corpus, preset="tiny", steps=10)
    run = runs.run_create(
        corpus=corpus, objective="vae", preset_name="tiny", steps=10, experiment=experiment
    )
    decoding = Decoding.objects.create(
        run=run,
        mode="prior",
        batch=uuid.uuid4(),
        index=0,
        text="a b c",
        n_words=3,
        passes_filter=True,
    )
    job = DecodeJob.objects.create(run=run, mode="prior", beam=1, steps=1)
    corpus_import = CorpusImport.objects.create(
        name="later", origin="upload", paths=[], vocab_size=50, min_len=1, max_len=20,
        test_fraction=0.1,
    )  # fmt: skip
    group = Group.objects.create(name="researchers")
    objects = {
        Survey: survey,
        Rater: rater,
        Response: Response.objects.first(),
        type(run): run,
        Corpus: corpus,
        Experiment: experiment,
        Decoding: decoding,
        DecodeJob: job,
        CorpusImport: corpus_import,
        Group: group,
        User: User.objects.create_user("someone", password="x"),
    }
    objects[type(survey.items.first())] = survey.items.first()
    return World(survey=survey, rater=rater, objects=objects)


def url_patterns(patterns=None, prefix: str = ""):
    """(route, pattern) of every URL pattern of the project, the admin's included."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern), pattern


def _model_of(route: str):
    found = re.match(r"admin/(\w+)/(\w+)/", route)
    if not found:
        return None
    try:
        return apps.get_model(found[1], found[2])
    except LookupError:
        return None


def concrete_urls(world: World, object_id: str | None = None) -> list[tuple[str, str]]:
    """(route, url) for every URL pattern: its arguments filled with real objects of `world`
    (the model's own object for admin URLs), so that an answer is about access, not a 404;
    or with `object_id` as every object's id (a missing or malformed one)."""
    found = []
    run = next(o for m, o in world.objects.items() if m.__name__ == "TrainingRun")
    for route, _pattern in url_patterns():
        model = _model_of(route)
        obj = world.objects.get(model) if model else None
        url = route
        if url.startswith("admin/^"):  # app_index: one app's page
            url = "admin/surveys/"
        elif url == "admin/(?P<url>.*)$":  # catch-all
            url = "admin/nowhere/"
        elif "<path:content_type_id>" in url:
            ct = ContentType.objects.get_for_model(Survey)
            url = f"admin/r/{ct.pk}/{world.survey.pk}/"
        pk = object_id or (str(obj.pk) if obj is not None else "1")
        values = {
            "object_id": pk,
            "id": pk,
            "pk": object_id if object_id and object_id.isdigit() else str(run.pk),
            "fmt": "csv",
            "survey_token": world.survey.token,
            "rater_token": world.rater.token,
        }
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m, values=values: values[m[1]], url)
        found.append((route, "/" + url))
    return found


def registered_admins():
    """(model, ModelAdmin) of everything the admin site shows."""
    return list(admin.site._registry.items())
