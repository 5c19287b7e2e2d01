"""Survey material: items decoded from four tiny trained runs, and items read from a CSV file.

The runs are the four paper models (VAE, VAE (annealing), AutoGen m=1 and m=2) trained with the
``tiny`` preset on sentences of a small grammar, once per test session; each module gets them
as committed runs of its own (deleted again at the module's end), and each test's decodings roll
back with the test.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from models_core import services as core
from models_core.models import Corpus, Decoding, TrainingRun
from surveys import material
from surveys.material import ItemsRefused, items_from_csv, items_from_runs
from surveys.models import Survey
from surveys.services import SurveyError
from tests.surveys.conftest import TABLE_2, csv_bytes

# Sentences from a small grammar: the tiny preset's vocabulary (64 entries, four of them special
# tokens) covers its 46 words, so no input has an unknown word and the paper filter keeps them
# all. (The shared corpora, cut to 60 words, leave nearly every sentence with <unk>.)
SUBJECTS = ["the man", "the woman", "the boy", "the girl", "the old dog", "a little cat",
            "my father", "her mother", "the farmer", "peter"]  # fmt: skip
VERBS = ["saw", "liked", "found", "heard", "followed", "called", "watched", "helped"]
OBJECTS = ["a bird", "the house", "a small dog", "the old tree", "the river", "his friend",
           "a red ball", "the children"]  # fmt: skip
ENDINGS = ["", "", "in the garden", "at night", "by the river", "after dinner", "every day",
           "with a smile"]  # fmt: skip
GRAMMAR_SENTENCES = 1500
# Enough steps for prior samples of 4–20 words; the models still reconstruct inputs apart.
TINY_STEPS = 100
CORPUS_NAME = "material-grammar"
PAPER_MODELS = [("vae", None), ("vae-anneal", None), ("autogen", 1), ("autogen", 2)]
LABELS = ["VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)"]
BEAM = 2  # the tests check plumbing: a narrow beam decodes fast
PAIRWISE_HEADER = ["item", "source", "model_1", "text_1", "model_2", "text_2"]


def grammar_sentences(target: Path, n: int = GRAMMAR_SENTENCES) -> Path:
    """`n` seeded sentences of 4–12 words (subject, verb, object, an ending), one a line."""
    rng = random.Random(0)
    parts = (SUBJECTS, VERBS, OBJECTS, ENDINGS)
    lines = [
        " ".join(" ".join(rng.choice(part) for part in parts).split()) + " ." for _ in range(n)
    ]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def trained_folders(base: Path, django_db_blocker) -> list[Path]:
    """The checkpoint folders of the four paper models trained with the tiny preset, in the
    paper's order: trained through the services once per test session (under `base`), their
    database rows deleted again at once."""
    folder = base / "tiny-runs"
    done = folder / "runs.json"
    if not done.exists():
        folder.mkdir(exist_ok=True)
        pks: list[int] = []
        with override_settings(DATA_DIR=folder / "data"), django_db_blocker.unblock():
            try:
                corpus = core.corpus_import(
                    name=CORPUS_NAME, paths=[grammar_sentences(folder / "grammar.txt")],
                    min_len=4, test_fraction=0.2,
                )  # fmt: skip
                for objective, m in PAPER_MODELS:
                    run = core.run_create(
                        corpus=corpus, objective=objective, m=m, preset_name="tiny",
                        steps=TINY_STEPS,
                    )  # fmt: skip
                    pks.append(run.pk)
                    core.run_train(run)
                    assert fresh_runs([run.pk])[0].status == TrainingRun.Status.SUCCEEDED
                directories = [str(run.directory) for run in fresh_runs(pks)]
            finally:
                TrainingRun.objects.filter(pk__in=pks).delete()
                Corpus.objects.filter(name=CORPUS_NAME).delete()
        done.write_text(json.dumps(directories), encoding="utf-8")
    return [Path(directory) for directory in json.loads(done.read_text(encoding="utf-8"))]


@contextlib.contextmanager
def four_tiny_runs(base: Path, folder: Path, django_db_blocker) -> Iterator[list[int]]:
    """The four trained paper models as succeeded runs on a corpus of their own, committed for
    a module-scoped fixture (so a module trains nothing: the session's checkpoints are copied
    into each run's folder); their ids. Everything is deleted again on exit, so other modules
    never see these rows."""
    pks: list[int] = []
    with override_settings(DATA_DIR=folder / "data"):
        try:
            with django_db_blocker.unblock():
                trained = trained_folders(base, django_db_blocker)
                corpus = core.corpus_import(
                    name=CORPUS_NAME, paths=[grammar_sentences(folder / "grammar.txt")],
                    min_len=4, test_fraction=0.2,
                )  # fmt: skip
                for (objective, m), checkpoints in zip(PAPER_MODELS, trained, strict=True):
                    run = core.run_create(
                        corpus=corpus, objective=objective, m=m, preset_name="tiny",
                        steps=TINY_STEPS,
                    )  # fmt: skip
                    pks.append(run.pk)
                    shutil.copytree(checkpoints, run.directory)
                    TrainingRun.objects.filter(pk=run.pk).update(
                        status=TrainingRun.Status.SUCCEEDED, step=TINY_STEPS
                    )
            yield pks
        finally:
            with django_db_blocker.unblock():
                TrainingRun.objects.filter(pk__in=pks).delete()
                Corpus.objects.filter(name=CORPUS_NAME).delete()


def fresh_runs(pks: list[int]) -> list[TrainingRun]:
    return [TrainingRun.objects.select_related("corpus").get(pk=pk) for pk in pks]


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[list[int]]:
    base, folder = tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("material")
    with four_tiny_runs(base, folder, django_db_blocker) as pks:
        yield pks


@pytest.fixture
def runs(trained, db) -> list[TrainingRun]:
    """The four runs, in the paper's order, fresh from the database for each test."""
    return fresh_runs(trained)


def batch(provenance: dict, run: TrainingRun) -> list[Decoding]:
    """The decodings of `run` that made the material, in order."""
    [record] = [r for r in provenance["runs"] if r["id"] == run.pk]
    return list(Decoding.objects.filter(batch=record["decoding"]).order_by("index"))


# --- Pairwise reconstruction ----------------------------------------------------------------


def test_the_four_paper_models_give_the_papers_three_comparisons(runs):
    assert [run.label for run in runs] == LABELS
    assert all(run.status == TrainingRun.Status.SUCCEEDED for run in runs)
    items, provenance = items_from_runs("pairwise", runs[::-1], 4, seed=3, beam=BEAM)

    paper = [(model_1, model_2) for model_1, model_2, *_ in TABLE_2]
    assert [(c["model_1"], c["model_2"]) for c in provenance["comparisons"]] == paper
    assert len({item.key for item in items}) == len(items)
    pool = provenance["decode"]["pool"]
    assert pool == material.POOL_FACTOR * 4  # the corpus has more filtered test sentences
    decode = provenance["decode"]
    assert (decode["mode"], decode["beam"], decode["seed"]) == ("reconstruct", BEAM, 3)
    assert decode["paper_filter"] is True and decode["strategy"] == "beam"
    by_label = {run.label: run for run in runs}
    decoded = {run.label: batch(provenance, run) for run in runs}
    sources = [d.source for d in decoded["VAE"]]
    assert len(sources) == pool
    for label in LABELS:  # the same test inputs for every run
        assert [d.source for d in decoded[label]] == sources
        assert by_label[label].pk in [r["id"] for r in provenance["runs"]]

    for number, comparison in enumerate(provenance["comparisons"], 1):
        model_1, model_2 = comparison["model_1"], comparison["model_2"]
        mine = [item for item in items if item.key.endswith(f"-{number}")]
        assert mine and all((i.model_1, i.model_2) == (model_1, model_2) for i in mine)
        assert comparison["items"] == len(mine) <= 4
        # Replay the rule on the stored decodings: the first 4 pairs that differ are kept, the
        # identical ones before them are skipped and counted.
        expected, identical = [], 0
        for one, two in zip(decoded[model_1], decoded[model_2], strict=True):
            if len(expected) == 4:
                break
            if one.text == two.text:
                identical += 1
            elif one.text and two.text:
                expected.append(
                    (f"r{one.index:04d}-{number}", one.source, one.text, two.text)
                )  # fmt: skip
        assert [(i.key, i.source, i.text_1, i.text_2) for i in mine] == expected
        assert comparison["skipped_identical"] == identical
        assert all(i.text_1 != i.text_2 and i.source in sources for i in mine)
    assert provenance["skipped_identical"] == sum(
        c["skipped_identical"] for c in provenance["comparisons"]
    )
    assert provenance["items"] == len(items)


def test_identical_reconstructions_are_skipped_and_counted(runs, monkeypatch):
    """Two inputs reconstructed alike by both runs give no item; the pool still gives N."""
    real = core.run_decode
    copied: dict[int, str] = {}

    def decode(run, **options):  # VAE (annealing) reconstructs inputs 0 and 2 as VAE does
        decoded = real(run, **options)
        if run.label == "VAE":
            copied.update({d.index: d.text for d in decoded if d.index in (0, 2)})
        else:
            for d in decoded:
                if d.index in copied:
                    d.text = copied[d.index]
        return decoded

    monkeypatch.setattr(core, "run_decode", decode)
    items, provenance = items_from_runs("pairwise", runs[:2], 3, seed=1, beam=BEAM)
    [comparison] = provenance["comparisons"]
    keys = [item.key for item in items]
    assert "r0000-1" not in keys and "r0002-1" not in keys
    assert comparison["skipped_identical"] >= 2
    assert len(items) == comparison["items"] == 3  # the pool holds 3·N inputs
    assert provenance["skipped_identical"] == comparison["skipped_identical"]


def test_other_runs_give_every_pair_in_the_given_order(runs):
    chosen = [runs[2], runs[0], runs[3]]
    items, provenance = items_from_runs("pairwise", chosen, 4, seed=0, beam=BEAM)
    pairs = [(c["model_1"], c["model_2"]) for c in provenance["comparisons"]]
    assert pairs == [
        ("AutoGen (m=1)", "VAE"),
        ("AutoGen (m=1)", "AutoGen (m=2)"),
        ("VAE", "AutoGen (m=2)"),
    ]
    assert {(i.model_1, i.model_2) for i in items} <= set(pairs)
    assert [r["label"] for r in provenance["runs"]] == [run.label for run in chosen]


def test_explicit_comparisons_by_label_run_or_id_model_1_first(runs):
    vae, anneal, m1, _ = runs
    comparisons = [("VAE", "AutoGen (m=1)"), (anneal, vae), (str(m1.pk), str(anneal.pk))]
    _, provenance = items_from_runs("pairwise", runs, 2, 0, comparisons, beam=BEAM)
    assert [(c["run_1"], c["run_2"]) for c in provenance["comparisons"]] == [
        (vae.pk, m1.pk),
        (anneal.pk, vae.pk),
        (m1.pk, anneal.pk),
    ]
    assert [r["id"] for r in provenance["runs"]] == [vae.pk, anneal.pk, m1.pk]  # not m=2


@pytest.mark.parametrize(
    ("comparisons", "message"),
    [
        ([("VAE", "VAE")], "with itself"),
        ([("VAE", "AutoGen (m=1)"), ("AutoGen (m=1)", "VAE")], "compared twice"),
        ([("VAE", "GPT")], r"'GPT' is none of the given runs"),
        ([("VAE", "999999")], r"'999999' is none of the given runs"),
    ],
)
def test_bad_comparisons_are_refused_before_decoding(runs, comparisons, message):
    with pytest.raises(SurveyError, match=message):
        items_from_runs("pairwise", runs, 2, 0, comparisons, beam=BEAM)
    assert not Decoding.objects.exists()


def test_runs_that_cannot_make_material_are_refused_in_one_line(runs):
    vae, anneal, m1, _ = runs
    cases = [
        (("pairwise", [vae]), material.TOO_FEW_RUNS.format(n=1)),
        (("meaningfulness", []), material.NO_RUNS),
        (("pairwise", [vae, anneal, vae]), material.RUN_TWICE.format(pk=vae.pk)),
        (("pairwise", [vae, anneal], 0), material.BAD_N.format(n=0)),
        (("meaningfulness", [vae, anneal], 2, 0, [(vae, anneal)]), "pairwise survey only"),
        (("poll", [vae, anneal]), "Unknown survey kind 'poll'"),
    ]
    for args, message in cases:
        with pytest.raises(SurveyError) as refused:
            items_from_runs(*args, beam=BEAM)
        assert message in str(refused.value) and "\n" not in str(refused.value)

    TrainingRun.objects.filter(pk=m1.pk).update(status=TrainingRun.Status.FAILED)
    with pytest.raises(SurveyError, match=r"is failed: only a succeeded run"):
        items_from_runs("pairwise", fresh_runs([vae.pk, m1.pk]), 2)

    twin = core.run_create(corpus=vae.corpus, objective="vae", preset_name="tiny", steps=1)
    with pytest.raises(SurveyError, match="is queued"):
        items_from_runs("meaningfulness", [vae, twin], 2)
    TrainingRun.objects.filter(pk=twin.pk).update(status=TrainingRun.Status.SUCCEEDED)
    with pytest.raises(SurveyError, match=r"both 'VAE'.*one run per model"):
        items_from_runs("meaningfulness", fresh_runs([vae.pk, twin.pk]), 2)

    with pytest.raises(SurveyError, match=r"No training run '?424242"):
        material.runs_from_ids([vae.pk, 424242])
    assert not Decoding.objects.exists()


def test_runs_on_other_corpora_or_vocabularies_are_refused_and_leave_nothing(
    runs, monkeypatch, tmp_path
):
    vae, anneal, *_ = runs
    other = core.corpus_import(
        name="other", paths=[grammar_sentences(tmp_path / "c.txt", 100)], min_len=4
    )
    elsewhere = core.run_create(corpus=other, objective="autogen", m=1, preset_name="tiny")
    TrainingRun.objects.filter(pk=elsewhere.pk).update(status=TrainingRun.Status.SUCCEEDED)
    with pytest.raises(SurveyError, match="different corpora"):
        items_from_runs("pairwise", [vae, *fresh_runs([elsewhere.pk])], 2)

    real = core.run_decode

    def other_inputs(run, **options):  # what a run with another vocabulary would pick
        decoded = real(run, **options)
        if run == anneal:
            decoded[0].source = "another sentence ."
        return decoded

    monkeypatch.setattr(core, "run_decode", other_inputs)
    with pytest.raises(SurveyError, match="picked different test sentences for seed 0"):
        items_from_runs("pairwise", [vae, anneal], 2, beam=BEAM)
    assert not Decoding.objects.exists()  # the decodings made for it are gone again


def test_too_few_test_sentences_is_refused_and_a_short_corpus_shrinks_the_pool(runs):
    with pytest.raises(SurveyError, match="test sentences passing the paper filter; 500 wanted"):
        items_from_runs("pairwise", runs[:2], 500, beam=BEAM)
    assert not Decoding.objects.exists()

    n = runs[0].corpus.n_test // 2  # 3·N is more than the corpus has, N is not
    items, provenance = items_from_runs("pairwise", runs[:2], n, beam=BEAM)
    assert n <= provenance["decode"]["pool"] <= runs[0].corpus.n_test
    assert len(batch(provenance, runs[0])) == provenance["decode"]["pool"]
    assert len(items) + provenance["short"] == n


# --- Meaningfulness -------------------------------------------------------------------------


def test_meaningfulness_gives_each_run_as_many_passing_prior_samples(runs):
    items, provenance = items_from_runs("meaningfulness", runs, 3, seed=2, beam=BEAM)
    per_model = provenance["per_model"]
    assert 1 <= per_model <= 3
    assert Counter(item.model_1 for item in items) == dict.fromkeys(LABELS, per_model)
    assert len({item.key for item in items}) == len(items)
    texts = {}
    for run in runs:
        for d in batch(provenance, run):
            assert d.mode == Decoding.Mode.PRIOR and d.passes_filter
            texts[(run.label, d.text)] = d.n_words
    for item in items:
        assert not item.model_2 and not item.text_2
        assert texts[(item.model_1, item.text_1)] == item.length
        assert 4 <= item.length <= 20 and "<unk>" not in item.text_1
    assert provenance["decode"]["mode"] == "prior"
    assert provenance["decode"]["paper_filter"] is True
    assert [r["label"] for r in provenance["runs"]] == LABELS
    assert provenance["wanted_per_model"] == 3
    assert ("note" in provenance) == (per_model < 3)


def test_a_run_short_of_passing_samples_sets_n_for_every_run(runs, monkeypatch):
    real = core.run_decode

    def short(run, **options):
        decoded = real(run, **options)
        return decoded[:1] if run.label == "AutoGen (m=2)" else decoded

    monkeypatch.setattr(core, "run_decode", short)
    items, provenance = items_from_runs("meaningfulness", runs, 3, seed=2, beam=BEAM)
    assert provenance["per_model"] == 1
    assert Counter(item.model_1 for item in items) == dict.fromkeys(LABELS, 1)
    assert "AutoGen (m=2) made only 1 of 3" in provenance["note"]

    monkeypatch.setattr(core, "run_decode", lambda run, **options: [])
    with pytest.raises(SurveyError, match="made no prior sample that passes the paper filter"):
        items_from_runs("meaningfulness", runs, 3, beam=BEAM)


# --- Items from a CSV file ------------------------------------------------------------------


def test_pairwise_items_from_a_csv_upload_or_path(tmp_path):
    rows = [
        ["a", "the cat sat .", "AutoGen (m=1)", "the cat sat .", "VAE", "a cat sat ."],
        ["b", "he ran .", "VAE", "he ran home .", "AutoGen (m=1)", "he ran ."],
    ]
    upload = csv_bytes([c.upper() for c in PAIRWISE_HEADER] + ["notes"], [[*r, ""] for r in rows])
    upload.name = "/uploads/items.csv"
    items, provenance = items_from_csv("pairwise", upload)
    assert [(i.key, i.model_1, i.text_1, i.model_2, i.text_2, i.source) for i in items] == [
        ("a", "AutoGen (m=1)", "the cat sat .", "VAE", "a cat sat .", "the cat sat ."),
        ("b", "VAE", "he ran home .", "AutoGen (m=1)", "he ran .", "he ran ."),
    ]
    assert provenance["file"] == "items.csv" and provenance["items"] == 2
    assert len(provenance["sha256"]) == 64

    path = tmp_path / "items.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes(PAIRWISE_HEADER, rows).getvalue())  # a BOM
    again, _ = items_from_csv(Survey.Kind.PAIRWISE, path)
    assert again == items


def test_meaningfulness_items_from_a_csv_count_their_words():
    upload = csv_bytes(["Item", "Model", "Sentence"], [["1", "VAE", "i want to go home ."]])
    items, provenance = items_from_csv("meaningfulness", upload, filename="sense.csv")
    [item] = items
    assert (item.key, item.model_1, item.text_1, item.length) == (
        "1", "VAE", "i want to go home .", 6,
    )  # fmt: skip
    assert provenance["models"] == {"VAE": 1} and provenance["file"] == "sense.csv"


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("pairwise", b"", "is empty: expected a header line with the columns item,source"),
        ("pairwise", b"item,source,model_1,text_1,model_2\n", "lacks the column(s) text_2"),
        ("meaningfulness", b"item,model\n", "lacks the column(s) sentence"),
        ("meaningfulness", b"item,model,sentence\n\n", "has a header line but no items"),
        ("pairwise", b"item,source\x00\n", "contains NUL bytes"),
        ("meaningfulness", b"item,model,sentence\n1,VAE,caf\xe9\n", "byte 0xe9 on line 2"),
    ],
)
def test_bad_csv_files_are_refused_in_one_line(kind, content, message):
    with pytest.raises(ItemsRefused) as refused:
        items_from_csv(kind, io.BytesIO(content), filename="items.csv")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_bad_csv_lines_are_all_listed_by_number_and_nothing_is_taken():
    rows = [
        ["a", "x y z .", "VAE", "x y .", "AutoGen (m=2)", "x z ."],  # line 2: good
        ["b", "x y z .", "VAE", "x y .", "VAE", "x z ."],  # line 3: same model twice
        ["a", "x y z .", "VAE", "x y .", "AutoGen (m=2)", "x z ."],  # line 4: key again
        ["c", "", "VAE", "x y .", "AutoGen (m=2)", "x z ."],  # line 5: empty source
        ["d", "x", "VAE", "", "AutoGen (m=2)", ""],  # line 6: two empty texts
        ["e", "x", "VAE"],  # line 7: too few fields
        ["f" * 201, "x", "VAE", "a", "AutoGen (m=2)", "b"],  # line 8: key too long
    ]
    with pytest.raises(ItemsRefused) as refused:
        items_from_csv("pairwise", csv_bytes(PAIRWISE_HEADER, rows), filename="items.csv")
    assert refused.value.errors == (
        "line 3: model_1 and model_2 are both 'VAE'",
        "line 4: item 'a' again (first on line 2)",
        "line 5: source is empty",
        "line 6: text_1 is empty",
        "line 6: text_2 is empty",
        "line 7: expected 6 fields, found 3",
        "line 8: item is longer than 200 characters",
    )
    assert str(refused.value).splitlines()[0] == ("7 bad line(s) in items.csv; nothing was stored:")

    sense = [["1", "VAE", "a b c d"], ["2", "", "e f"], ["1", "VAE", "g h"]]
    with pytest.raises(ItemsRefused) as refused:
        items_from_csv("meaningfulness", csv_bytes(["item", "model", "sentence"], sense))
    assert refused.value.errors == (
        "line 3: model is empty",
        "line 4: item '1' again (first on line 2)",
    )


def test_a_missing_file_is_refused():
    with pytest.raises(ItemsRefused, match=r"No such file: /nowhere/items\.csv"):
        items_from_csv("pairwise", "/nowhere/items.csv")
