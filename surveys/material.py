"""Survey material: the items a survey shows, made from trained runs or read from a CSV file.

From runs, through :func:`models_core.services.run_decode` (the only door into the engine):

* pairwise reconstruction (Table 2, Sect. 3.2): per comparison of two runs, ``n`` test-set
  inputs that pass the paper's filter (4–20 words, no ``<unk>``), the same inputs for both
  runs, each reconstructed by beam search from z ~ q(z|x). A pair whose two reconstructions are
  identical gives a rater nothing to choose: it is skipped and counted. Each run decodes one
  pool of up to ``POOL_FACTOR · n`` inputs, shared by its comparisons, and each comparison
  keeps its first ``n`` pairs that differ. With the four paper models the comparisons are the
  paper's three (:data:`PAPER_COMPARISONS`); otherwise every pair of runs, in the given order.
* meaningfulness (Table 4, Sect. 3.3): ``n`` prior samples z ~ N(0, I) per run that pass the
  paper's filter, the same number for every run.

Items are named by the runs' labels (``VAE (annealing)``, ``AutoGen (m=1)``), which is what the
reports group by. Keys are opaque (``r0007-2``: input 7 of the pool, comparison 2); raters
never see them. What was done (runs, seeds, decoding settings, skipped pairs) is the
*provenance* the caller stores as ``Survey.material`` for the datasheet.

From a CSV file of items made elsewhere (UTF-8, a header line, column names in any case), all
or nothing, every bad line listed by number as the answers import does
(:mod:`surveys.imports`): pairwise ``item,source,model_1,text_1,model_2,text_2``,
meaningfulness ``item,model,sentence``.

Refusals are :class:`~surveys.services.SurveyError` with a message for the researcher; the
sentences decoded for a refused request are deleted again, so nothing is left behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from models_core import selectors as core_selectors
from models_core import services as core
from models_core.models import Decoding, TrainingRun
from surveys import imports
from surveys.imports import (
    CSV_SYNTAX,
    EMPTY_VALUE,
    FIELD_COUNT,
    KIND_NAMES,
    KINDS,
    MAX_MODEL,
    MAX_NAME,
    MAX_REPORTED_ERRORS,
    MORE_BAD_ROWS,
    SAME_MODEL,
    TOO_LONG,
    UNKNOWN_KIND,
    ImportRefused,
)
from surveys.models import Survey
from surveys.services import ItemSpec, SurveyError

# Items per comparison (pairwise) or per model (meaningfulness) when none is asked for.
DEFAULT_PER_MODEL = 50
# Each run decodes up to this many inputs per wanted pair, so that comparisons still reach
# `n` pairs after skipping identical reconstructions.
POOL_FACTOR = 3
# The pools tried, as multiples of `n`, when the corpus has fewer filtered test sentences.
POOL_STEPS = (3.0, 2.5, 2.0, 1.5, 1.0)
# The paper's Table 2, model 1 first: (VAE (annealing) vs VAE), (AutoGen (m=1) vs
# VAE (annealing)), (AutoGen (m=2) vs AutoGen (m=1)).
PAPER_COMPARISONS = (
    ("VAE (annealing)", "VAE"),
    ("AutoGen (m=1)", "VAE (annealing)"),
    ("AutoGen (m=2)", "AutoGen (m=1)"),
)
PAPER_MODELS = frozenset(label for pair in PAPER_COMPARISONS for label in pair)

CSV_COLUMNS = {
    Survey.Kind.PAIRWISE: ("item", "source", "model_1", "text_1", "model_2", "text_2"),
    Survey.Kind.MEANINGFULNESS: ("item", "model", "sentence"),
}

# Refusals (the tests reuse them).
NO_RUNS = "Choose at least one finished run."
TOO_FEW_RUNS = "A pairwise survey compares at least two runs; {n} given."
BAD_N = "N per model or comparison must be at least 1, not {n}."
RUN_TWICE = "Run {pk} is given twice."
RUN_NOT_SUCCEEDED = (
    "Run {pk} ({label}) is {status}: only a succeeded run's sentences make survey material."
)
SAME_LABEL = (
    "Runs {a} and {b} are both {label!r}: the reports tell models apart by label, so give one "
    "run per model."
)
OTHER_CORPUS = (
    "Runs {a} and {b} were trained on different corpora ({corpus_a!r}, {corpus_b!r}): a pairwise "
    "survey reconstructs the same test sentences with both runs."
)
OTHER_INPUTS = (
    "Runs {a} ({label_a}) and {b} ({label_b}) picked different test sentences for seed {seed} "
    "(different vocabularies: presets {preset_a!r} and {preset_b!r}?): a pairwise survey needs "
    "the same inputs for both runs."
)
UNKNOWN_IN_COMPARISON = "Comparison {pair}: {name!r} is none of the given runs ({runs})."
SELF_COMPARISON = "Comparison {pair} compares {label!r} with itself."
COMPARED_TWICE = "{label_a!r} and {label_b!r} are compared twice."
COMPARISONS_ONLY_PAIRWISE = "Comparisons apply to a pairwise survey only."
ALL_IDENTICAL = (
    "Comparison {label_a!r} vs {label_b!r}: the two runs reconstruct all {pool} inputs alike "
    "(or emptily), so raters would have nothing to choose from."
)
NO_PASSING_PRIOR = (
    "Run {pk} ({label}) made no prior sample that passes the paper filter (4–20 words, no "
    "unknown word) in {tries} draws."
)
# Items CSV: whole-file problems, then lines, each prefixed with "line N: ".
NO_ITEMS = "{name} has a header line but no items."
BAD_ITEM_ROWS = "{count} bad line(s) in {name}; nothing was stored:"
DUPLICATE_ITEM = "item {item!r} again (first on line {first})"


class Material(NamedTuple):
    """Items to create, and how they were made (stored as ``Survey.material``)."""

    items: list[ItemSpec]
    provenance: dict[str, Any]


class ItemsRefused(SurveyError):
    """An items CSV that was not taken; ``str()`` says why, one bad line per line."""

    def __init__(self, message: str, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


def survey_kind(kind: str) -> Survey.Kind:
    """``pairwise`` / ``meaningfulness`` (or the stored kind) as a :class:`Survey.Kind`."""
    try:
        return KINDS[kind]
    except KeyError:
        raise SurveyError(UNKNOWN_KIND.format(kind=kind)) from None


def runs_from_ids(ids: Iterable[int | str]) -> list[TrainingRun]:
    """The training runs with these ids, in this order (a SurveyError names one missing)."""
    try:
        return [core_selectors.run_get(pk) for pk in ids]
    except core.ServiceError as error:
        raise SurveyError(str(error)) from None


def items_from_runs(
    kind: str,
    runs: Sequence[TrainingRun],
    per_model: int = DEFAULT_PER_MODEL,
    seed: int = 0,
    comparisons: Sequence[tuple[Any, Any]] | None = None,
    *,
    beam: int | None = None,
) -> Material:
    """Items of a `kind` survey decoded from `runs` (see the module docstring).

    `per_model` is N per comparison (pairwise) or per run (meaningfulness); `seed` picks the
    test inputs and seeds the decoder; `comparisons` are pairs of runs (model 1 first), each
    named by a run, its id or its label; `beam` is the beam width (the decoder's default when
    None).
    """
    survey_kind_ = survey_kind(kind)
    runs = list(runs)
    _check_runs(runs, pairwise=survey_kind_ == Survey.Kind.PAIRWISE)
    if per_model < 1:
        raise SurveyError(BAD_N.format(n=per_model))
    if survey_kind_ == Survey.Kind.PAIRWISE:
        return _pairwise(runs, per_model, seed, comparisons, beam)
    if comparisons:
        raise SurveyError(COMPARISONS_ONLY_PAIRWISE)
    return _meaningfulness(runs, per_model, seed, beam)


def material_discard(material: Material) -> int:
    """Delete the sentences decoded for `material` (its survey was refused); how many."""
    return _discard(material.provenance.get("decodings", ()))


def _discard(batches: Iterable[str]) -> int:
    batches = list(batches)
    if not batches:
        return 0
    return Decoding.objects.filter(batch__in=batches).delete()[0]


def _check_runs(runs: list[TrainingRun], *, pairwise: bool) -> None:
    if not runs:
        raise SurveyError(NO_RUNS)
    if pairwise and len(runs) < 2:
        raise SurveyError(TOO_FEW_RUNS.format(n=len(runs)))
    seen: dict[str, TrainingRun] = {}
    pks: set[int] = set()
    for run in runs:
        if run.pk in pks:
            raise SurveyError(RUN_TWICE.format(pk=run.pk))
        pks.add(run.pk)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise SurveyError(
                RUN_NOT_SUCCEEDED.format(pk=run.pk, label=run.label, status=run.status)
            )
        other = seen.setdefault(run.label, run)
        if other is not run:
            raise SurveyError(SAME_LABEL.format(a=other.pk, b=run.pk, label=run.label))


def _run_record(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "label": run.label,
        "corpus": run.corpus.name,
        "preset": run.preset,
        "step": run.step,
    }


def _decode(run: TrainingRun, mode: str, n: int, seed: int, beam: int | None) -> list[Decoding]:
    options: dict[str, Any] = {} if beam is None else {"beam": beam}
    try:
        return core.run_decode(run, mode=mode, n=n, paper_filter=True, seed=seed, **options)
    except core.ServiceError as error:
        raise SurveyError(f"Run {run.pk} ({run.label}): {error}") from None


def _decode_settings(decodings: Sequence[Decoding], mode: str) -> dict[str, Any]:
    settings = dict(decodings[0].settings) if decodings else {}
    return {"mode": mode, **settings}


# --- Pairwise reconstruction ----------------------------------------------------------------


def _pairwise(
    runs: list[TrainingRun],
    n: int,
    seed: int,
    comparisons: Sequence[tuple[Any, Any]] | None,
    beam: int | None,
) -> Material:
    pairs = _comparison_pairs(runs, comparisons)
    used = sorted({index for pair in pairs for index in pair})
    first = runs[used[0]]
    for index in used[1:]:
        run = runs[index]
        if run.corpus_id != first.corpus_id:
            raise SurveyError(
                OTHER_CORPUS.format(
                    a=first.pk, b=run.pk, corpus_a=first.corpus.name, corpus_b=run.corpus.name
                )
            )
    decoded: dict[int, list[Decoding]] = {}
    try:
        pool, decoded[used[0]] = _first_pool(first, n, seed, beam)
        sources = [d.source for d in decoded[used[0]]]
        for index in used[1:]:
            run = runs[index]
            decoded[index] = _decode(run, Decoding.Mode.RECONSTRUCT, pool, seed, beam)
            if [d.source for d in decoded[index]] != sources:
                raise SurveyError(
                    OTHER_INPUTS.format(
                        a=first.pk, label_a=first.label, b=run.pk, label_b=run.label,
                        seed=seed, preset_a=first.preset, preset_b=run.preset,
                    )
                )  # fmt: skip
        items: list[ItemSpec] = []
        records = []
        for number, (a, b) in enumerate(pairs, 1):
            kept, record = _comparison_items(
                number, runs[a], runs[b], decoded[a], decoded[b], n, pool
            )
            if not kept:
                raise SurveyError(
                    ALL_IDENTICAL.format(label_a=runs[a].label, label_b=runs[b].label, pool=pool)
                )
            items += kept
            records.append(record)
    except SurveyError:
        _discard(str(d[0].batch) for d in decoded.values() if d)
        raise
    provenance = {
        "source": "runs",
        "kind": KIND_NAMES[Survey.Kind.PAIRWISE],
        "runs": [{**_run_record(runs[i]), "decoding": str(decoded[i][0].batch)} for i in used],
        "seed": seed,
        "decode": {**_decode_settings(decoded[used[0]], "reconstruct"), "pool": pool},
        "per_comparison": n,
        "comparisons": records,
        "items": len(items),
        "skipped_identical": sum(r["skipped_identical"] for r in records),
        "skipped_empty": sum(r["skipped_empty"] for r in records),
        "short": sum(r["short"] for r in records),
        "decodings": [str(decoded[i][0].batch) for i in used],
    }
    return Material(items, provenance)


def _comparison_pairs(
    runs: list[TrainingRun], comparisons: Sequence[tuple[Any, Any]] | None
) -> list[tuple[int, int]]:
    """Comparisons as (model 1, model 2) indices into `runs`."""
    labels = [run.label for run in runs]
    if not comparisons:
        if set(labels) == PAPER_MODELS and len(labels) == len(PAPER_MODELS):
            return [(labels.index(a), labels.index(b)) for a, b in PAPER_COMPARISONS]
        return [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    pairs: list[tuple[int, int]] = []
    for pair in comparisons:
        a, b = (_run_index(runs, name, pair) for name in pair)
        if a == b:
            raise SurveyError(SELF_COMPARISON.format(pair=_pair_text(pair), label=labels[a]))
        if any({a, b} == set(known) for known in pairs):
            raise SurveyError(COMPARED_TWICE.format(label_a=labels[a], label_b=labels[b]))
        pairs.append((a, b))
    return pairs


def _run_index(runs: list[TrainingRun], name: Any, pair: tuple[Any, Any]) -> int:
    """Which of `runs` `name` means: a run, a run id, or a label."""
    for index, run in enumerate(runs):
        if isinstance(name, TrainingRun):
            if name.pk == run.pk:
                return index
        elif str(name).strip() in (str(run.pk), run.label):
            return index
    given = ", ".join(f"{run.pk}: {run.label}" for run in runs)
    shown = name.pk if isinstance(name, TrainingRun) else name
    raise SurveyError(UNKNOWN_IN_COMPARISON.format(pair=_pair_text(pair), name=shown, runs=given))


def _pair_text(pair: tuple[Any, Any]) -> str:
    return " vs ".join(str(p.pk if isinstance(p, TrainingRun) else p) for p in pair)


def _first_pool(
    run: TrainingRun, n: int, seed: int, beam: int | None
) -> tuple[int, list[Decoding]]:
    """The first run's pool: the largest of the POOL_STEPS multiples of `n` that the corpus
    has filtered test sentences for (the service refuses a larger one before decoding)."""
    sizes = sorted(
        {max(n, min(round(n * step), run.corpus.n_test)) for step in POOL_STEPS}, reverse=True
    )
    for size in sizes:
        try:
            return size, _decode(run, Decoding.Mode.RECONSTRUCT, size, seed, beam)
        except SurveyError:
            if size == sizes[-1]:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _comparison_items(
    number: int,
    run_1: TrainingRun,
    run_2: TrainingRun,
    decoded_1: list[Decoding],
    decoded_2: list[Decoding],
    n: int,
    pool: int,
) -> tuple[list[ItemSpec], dict[str, Any]]:
    """The first `n` pairs of the pool whose reconstructions differ, and what was skipped."""
    items: list[ItemSpec] = []
    identical = empty = 0
    for index, (one, two) in enumerate(zip(decoded_1, decoded_2, strict=True)):
        if len(items) == n:
            break
        if one.text == two.text:
            identical += 1
        elif not (one.text and two.text):
            empty += 1  # nothing to show on one side (survey_create needs two texts)
        else:
            items.append(
                ItemSpec(
                    key=f"r{index:04d}-{number}", model_1=run_1.label, text_1=one.text,
                    model_2=run_2.label, text_2=two.text, source=one.source,
                )
            )  # fmt: skip
    record = {
        "model_1": run_1.label,
        "model_2": run_2.label,
        "run_1": run_1.pk,
        "run_2": run_2.pk,
        "items": len(items),
        "skipped_identical": identical,
        "skipped_empty": empty,
        "short": n - len(items),
        "pool": pool,
    }
    return items, record


# --- Meaningfulness -------------------------------------------------------------------------


def _meaningfulness(runs: list[TrainingRun], n: int, seed: int, beam: int | None) -> Material:
    decoded: list[list[Decoding]] = []
    try:
        for run in runs:
            decoded.append(_decode(run, Decoding.Mode.PRIOR, n, seed, beam))
        passing = [[d for d in batch if d.passes_filter] for batch in decoded]
        for run, kept in zip(runs, passing, strict=True):
            if not kept:
                raise SurveyError(
                    NO_PASSING_PRIOR.format(
                        pk=run.pk, label=run.label, tries=core.FILTER_MAX_TRIES * n
                    )
                )
    except SurveyError:
        _discard(str(batch[0].batch) for batch in decoded if batch)
        raise
    per_model = min(len(kept) for kept in passing)
    items = [
        ItemSpec(key=f"p{d.index:04d}-{number}", model_1=run.label, text_1=d.text, length=d.n_words)
        for number, (run, kept) in enumerate(zip(runs, passing, strict=True), 1)
        for d in kept[:per_model]
    ]
    runs_record = [
        {
            **_run_record(run),
            "decoding": str(batch[0].batch),
            "sampled": len(batch),
            "passing": len(kept),
            "dropped_by_filter": len(batch) - len(kept),
            "short": n - len(kept),
        }
        for run, batch, kept in zip(runs, decoded, passing, strict=True)
    ]
    provenance: dict[str, Any] = {
        "source": "runs",
        "kind": KIND_NAMES[Survey.Kind.MEANINGFULNESS],
        "runs": runs_record,
        "seed": seed,
        "decode": _decode_settings(decoded[0], "prior"),
        "wanted_per_model": n,
        "per_model": per_model,
        "items": len(items),
        "dropped_by_filter": sum(r["dropped_by_filter"] for r in runs_record),
        "decodings": [str(batch[0].batch) for batch in decoded],
    }
    if per_model < n:
        fewest = [r["label"] for r in runs_record if r["passing"] == per_model]
        provenance["note"] = (
            f"{', '.join(fewest)} made only {per_model} of {n} prior samples passing the paper "
            f"filter in {core.FILTER_MAX_TRIES * n} draws; every model gets {per_model}."
        )
    return Material(items, provenance)


# --- Items from a CSV file ------------------------------------------------------------------


def items_from_csv(
    kind: str, file: str | os.PathLike | BinaryIO, *, filename: str = ""
) -> Material:
    """The items in a CSV `file` (a path or a binary file object, e.g. an upload), all or
    nothing: an :class:`ItemsRefused` lists every bad line by number."""
    survey_kind_ = survey_kind(kind)
    if isinstance(file, str | os.PathLike):
        name = filename or os.fspath(file)
    else:
        name = filename or Path(getattr(file, "name", "") or "the file").name
    try:
        text = imports._read_text(file, name)
    except ImportRefused as refused:
        raise ItemsRefused(str(refused)) from None
    # strict: a quote never closed (a file cut short) is an error, not a field that runs
    # to the end of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _csv_header(reader, survey_kind_, name)
    pairwise = survey_kind_ == Survey.Kind.PAIRWISE
    items: list[ItemSpec] = []
    first_line: dict[str, int] = {}
    errors: list[tuple[int, str]] = []
    for line, row in _csv_rows(reader, errors):
        if len(row) != len(header):
            errors.append((line, FIELD_COUNT.format(expected=len(header), found=len(row))))
            continue
        values = {column: value.strip() for column, value in zip(header, row, strict=True)}
        errors_before = len(errors)
        item = _csv_item(line, values, pairwise, errors)
        if item is None or len(errors) > errors_before:
            continue
        if item.key in first_line:
            errors.append((line, DUPLICATE_ITEM.format(item=item.key, first=first_line[item.key])))
            continue
        first_line[item.key] = line
        items.append(item)
    if errors:
        listed = tuple(f"line {line}: {message}" for line, message in errors[:MAX_REPORTED_ERRORS])
        lines = [BAD_ITEM_ROWS.format(count=len(errors), name=name), *listed]
        if len(errors) > MAX_REPORTED_ERRORS:
            lines.append(MORE_BAD_ROWS.format(count=len(errors) - MAX_REPORTED_ERRORS))
        raise ItemsRefused("\n".join(lines), listed)
    if not items:
        raise ItemsRefused(NO_ITEMS.format(name=name))
    return Material(items, _csv_provenance(survey_kind_, name, text, items))


def _csv_header(reader, kind: Survey.Kind, name: str) -> list[str]:
    kind_name = f"{KIND_NAMES[kind]} items"
    return imports.csv_header(reader, CSV_COLUMNS[kind], name, kind_name, refused=ItemsRefused)


def _csv_rows(reader, errors: list[tuple[int, str]]):
    """Data rows with the line each starts on; blank lines skipped, CSV errors recorded."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            errors.append((line, CSV_SYNTAX.format(error=error)))
            continue
        if any(value.strip() for value in row):
            yield line, row


def _csv_item(
    line: int, values: dict[str, str], pairwise: bool, errors: list[tuple[int, str]]
) -> ItemSpec | None:
    def value(column: str, limit: int | None = None) -> str:
        text = values[column]
        if not text:
            errors.append((line, EMPTY_VALUE.format(column=column)))
        elif limit is not None and len(text) > limit:
            errors.append((line, TOO_LONG.format(column=column, limit=limit)))
        return text

    key = value("item", MAX_NAME)
    if not pairwise:
        model, sentence = value("model", MAX_MODEL), value("sentence")
        return ItemSpec(key=key, model_1=model, text_1=sentence, length=len(sentence.split()))
    source = value("source")
    model_1, text_1 = value("model_1", MAX_MODEL), value("text_1")
    model_2, text_2 = value("model_2", MAX_MODEL), value("text_2")
    if model_1 and model_1 == model_2:
        errors.append((line, SAME_MODEL.format(model=model_1)))
        return None
    return ItemSpec(
        key=key, model_1=model_1, text_1=text_1, model_2=model_2, text_2=text_2, source=source
    )


def _csv_provenance(
    kind: Survey.Kind, name: str, text: str, items: list[ItemSpec]
) -> dict[str, Any]:
    provenance: dict[str, Any] = {
        "source": "items CSV",
        "kind": KIND_NAMES[kind],
        "file": name,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "items": len(items),
    }
    if kind == Survey.Kind.PAIRWISE:
        counts: dict[tuple[str, str], int] = {}
        for item in items:
            counts[item.model_1, item.model_2] = counts.get((item.model_1, item.model_2), 0) + 1
        provenance["comparisons"] = [
            {"model_1": a, "model_2": b, "items": k} for (a, b), k in counts.items()
        ]
    else:
        per_model: dict[str, int] = {}
        for item in items:
            per_model[item.model_1] = per_model.get(item.model_1, 0) + 1
        provenance["models"] = per_model
    return provenance
