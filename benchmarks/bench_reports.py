"""Survey import and report speed at a million answers, on the configured database.

    .venv/bin/python benchmarks/bench_reports.py                      # SQLite in a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/autogen_bench \\
        .venv/bin/python benchmarks/bench_reports.py                  # PostgreSQL
    .venv/bin/python benchmarks/bench_reports.py --answers 100000     # quicker

For each survey kind it generates a CSV of ``--answers`` answers (raters answer 20 questions
each, the paper's cap; every item is judged by 5 raters), imports it through the real service
(``responses_import``: parse, validate, then bulk_create in one transaction), imports it again
(every answer skipped), builds the report and renders every format.

Baselines, measured in the same run: the counts a report needs, computed by loading every
answer into Python instead of the aggregate queries the report uses, as tuples
(``values_list`` over all rows, then pandas) and as model instances (one per answer).

Without DATABASE_URL the database is a fresh SQLite file in a temporary directory. With a
PostgreSQL URL the database is created if absent. The benchmark's surveys ("bench …") are
deleted before the run and after it (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)")
# Probability that the better model (later in MODELS) wins, as in the paper's Table 2.
WIN_RATE = 0.8
ANSWERS_PER_RATER = 20
RATERS_PER_ITEM = 5
DISCARD_RATE = 0.03


def prepare_environment() -> str:
    """Point Django at the benchmark database; return a description of it."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        var = tempfile.mkdtemp(prefix="bench-reports-")
        os.environ["AUTOGEN_VAR_DIR"] = var
        return f"SQLite file in {var}"
    if url.startswith("postgres"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if exists.fetchone() is None:
                admin.execute(f'CREATE DATABASE "{name}"')
    return url


def generate(kind: str, answers: int, seed: int = 0) -> bytes:
    """A CSV of ``answers`` answers of ``kind``, each rater answering 20 items."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    n_items = max(1, answers // RATERS_PER_ITEM)
    if kind == "pairwise":
        writer.writerow(["rater", "item", "model_1", "model_2", "winner", "left", "response_ms"])
        pairs = [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i + 1 :]]
        items = [pairs[i % len(pairs)][::-1] for i in range(n_items)]
        for row in range(answers):
            item = (row * 7919) % n_items  # spreads each rater's 20 answers over items
            better, worse = items[item]
            if rng.random() < DISCARD_RATE:
                winner = "discard"
            else:
                winner = better if rng.random() < WIN_RATE else worse
            left = better if rng.random() < 0.5 else worse
            rater = f"r{row // ANSWERS_PER_RATER}"
            writer.writerow(
                [rater, f"i{item}", better, worse, winner, left, rng.randint(800, 9000)]
            )
    else:
        writer.writerow(["rater", "item", "model", "sentence", "meaningful", "length"])
        rate = {model: 0.8 - 0.15 * i for i, model in enumerate(MODELS)}
        for row in range(answers):
            item = (row * 7919) % n_items
            model = MODELS[item % len(MODELS)]
            length = 4 + item % 17
            meaningful = rng.random() < rate[model] - (0.2 if length > 10 else 0)
            rater = f"r{row // ANSWERS_PER_RATER}"
            sentence = f"sentence {item}"
            writer.writerow([rater, f"s{item}", model, sentence, int(meaningful), length])
    return out.getvalue().encode()


def timed(label: str, results: list[tuple[str, float, str]], function, note: str = ""):
    started = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - started
    results.append((label, seconds, note))
    print(f"{label:<44} {seconds:8.2f} s  {note}", flush=True)
    return value


def baseline_instances(survey) -> int:
    """What the rule "never load a million model instances" saves: count from instances."""
    from collections import Counter

    answers = (
        survey.counted_responses()
        .select_related("item")
        .only("rater_id", "answer", "left", "item__model_1", "item__model_2")
        .iterator(chunk_size=10_000)
    )
    counts = Counter(
        (a.item.model_1, a.item.model_2, a.rater_id, a.answer, a.left) for a in answers
    )
    return len(counts)


def baseline_counts(survey) -> int:
    """What a report would cost if it pulled every answer into Python and counted there."""
    import pandas as pd

    fields = ("rater_id", "item__model_1", "item__model_2", "answer", "left")
    rows = survey.counted_responses().values_list(*fields).iterator(chunk_size=20_000)
    frame = pd.DataFrame(list(rows), columns=["rater", "model_1", "model_2", "answer", "left"])
    return len(frame.groupby(["model_1", "model_2", "rater", "answer", "left"]).size())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000, help="answers per survey")
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark surveys (to inspect or profile)"
    )
    args = parser.parse_args()

    where = prepare_environment()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autogen.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from surveys import reports
    from surveys.imports import responses_import
    from surveys.models import Survey

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor():
        if connection.vendor == "sqlite":
            version = ".".join(map(str, connection.Database.sqlite_version_info))
        else:  # PostgreSQL reports e.g. 150020 for 15.20
            number = connection.connection.info.server_version
            version = f"{number // 10_000}.{number % 10_000}"
    print(f"database: {connection.vendor} {version} ({where})")
    print(f"answers per survey: {args.answers:,}; {ANSWERS_PER_RATER} per rater, "
          f"{RATERS_PER_ITEM} raters per item; CPUs: {os.cpu_count()}\n", flush=True)  # fmt: skip
    Survey.objects.filter(name__startswith="bench ").delete()

    results: list[tuple[str, float, str]] = []
    for kind in ("pairwise", "meaningfulness"):
        data = timed(
            f"{kind}: generate CSV", results, lambda kind=kind: generate(kind, args.answers)
        )
        name = f"bench {kind}"

        def import_file(name=name, kind=kind, data=data):
            return responses_import(
                survey_name=name, kind=kind, file=io.BytesIO(data), filename=f"{kind}.csv"
            )

        summary = timed(f"{kind}: import {args.answers:,} answers", results, import_file)
        assert summary.responses_created == args.answers, summary
        again = timed(f"{kind}: re-import (every answer skipped)", results, import_file)
        assert again.responses_skipped == args.answers, again
        survey = Survey.objects.get(name=name)
        report = timed(
            f"{kind}: build report (Table {'2' if kind == 'pairwise' else '4'})",
            results,
            lambda survey=survey: reports.report_build(survey=survey),
        )
        for fmt in ("csv", "json", "latex", "md", "html", "datasheet"):
            timed(
                f"{kind}: render {fmt}",
                results,
                lambda fmt=fmt, report=report: reports.render(report, fmt),
            )
        timed(
            f"{kind}: raw answers CSV", results,
            lambda survey=survey: reports.answers_csv(survey, io.StringIO()),
        )  # fmt: skip
        if kind == "pairwise":
            timed(
                "pairwise: baseline, counts from every row", results,
                lambda survey=survey: baseline_counts(survey),
                "(values_list of all answers + pandas)",
            )  # fmt: skip
            timed(
                "pairwise: baseline, counts from instances", results,
                lambda survey=survey: baseline_instances(survey),
                "(a model instance per answer)",
            )  # fmt: skip
        print(flush=True)

    if not args.keep:
        Survey.objects.filter(name__startswith="bench ").delete()
    print("| step | seconds |\n|---|---:|")
    for label, seconds, _ in results:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
