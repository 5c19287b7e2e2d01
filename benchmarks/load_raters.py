"""Raters under load: N simulated raters take real surveys end to end over HTTP, against
gunicorn and PostgreSQL, then the database is audited against what the raters sent.

    .venv/bin/python benchmarks/load_raters.py                  # 200 raters, think 0.5–1.5 s
    .venv/bin/python benchmarks/load_raters.py --no-think       # maximum sustained throughput
    .venv/bin/python benchmarks/load_raters.py --raters 20      # a quick run

What it does, in order:

1. Drops and creates the PostgreSQL database ``--database`` (its name must contain "load", so
   a typo never drops a real one) and migrates it.
2. Creates its own surveys through ``surveys.services`` (``--kind``: pairwise, meaningfulness
   or both; the paper's cap of 20 questions, an instructed check and a gold question each;
   raters are shared out between the surveys) and opens them.
3. Starts gunicorn on a free loopback port (``gunicorn.conf.py``; ``--workers``,
   ``--threads``), with the rate limits raised out of the way and DEBUG off.
4. Runs the raters in this one process (asyncio + aiohttp, so the load generator costs little
   of the machine's CPU): each has its own cookie jar, opens the survey link, reads the consent
   form and its CSRF token from the HTML as a browser does, consents, then answers every
   question page, following the redirects, until the done page shows the completion code.
   Between pages a rater thinks for a time drawn uniformly from 0.5–1.5 s (``--no-think``:
   none). Some reload a question before answering (``--refresh``), some send an answer twice at
   once (a double click, ``--double-submit``), and every ``--two-tabs``-th rater opens the link
   again in a second tab (the resume cookie brings them back to their question) and, after
   answering in the first, sends the stale second tab's form with another answer, which the
   server must refuse quietly (the first answer stands).
5. Prints the throughput (answers/s), p50/p95/p99 latency per page kind (start: the survey
   link; consent: its POST; question: a question page; answer: an answer's POST; done: the
   completion page), the errors, and the audit: every rater has exactly the cap of answers,
   balanced over the models or comparisons, each stored as sent, none lost, none duplicated,
   ending in one line ``audit: N lost, N duplicated``.
6. Stops gunicorn and drops the database (``--keep`` keeps it).

Bounded: at most ``MAX_RATERS`` raters, and the run stops after ``--time-limit`` seconds (the
raters still running count as errors). Loopback only: ``--base-url`` (a server already
running, on the database ``DATABASE_URL`` names) must be 127.0.0.1, ::1 or localhost.

The exit status is 0 only with no error and a clean audit.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import html
import ipaddress
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_RATERS = 2000
MAX_TIME_LIMIT_S = 3600
MAX_CAP = 20  # the paper's cap (Sect. 3.3); a rater's pages are the cap plus the checks
THINK_S = (0.5, 1.5)
REQUEST_TIMEOUT_S = 60
# What rater.js sends with an answer to get the next page in its response (surveys/views.py).
NEXT_PAGE_HEADER = "Rater-Next-Page"
PAGE_KINDS = ("start", "consent", "question", "answer", "done")
KINDS = {"pairwise": "pairwise_reconstruction", "meaningfulness": "meaningfulness"}
MODELS = ("VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)")
COMPARISONS = ((MODELS[1], MODELS[0]), (MODELS[2], MODELS[1]), (MODELS[3], MODELS[2]))
ITEMS_PER_GROUP_PER_CAP = 2  # items per comparison (or model): twice the cap, plenty to choose
LOOPBACK_NAMES = ("localhost",)
# The rate limits (settings.RATE_LIMITS, from AUTOGEN_RATE_LIMIT_*) raised out of the way but
# still counted (a cache round trip per limit, as in production): the raters share one address.
HIGH_RATE = "1000000/m"
RATE_LIMIT_VARIABLES = (
    "AUTOGEN_RATE_LIMIT_ENTRY_PER_IP",
    "AUTOGEN_RATE_LIMIT_ANSWERS_PER_IP",
    "AUTOGEN_RATE_LIMIT_ANSWERS_PER_TOKEN",
)
# Redis for the rate-limit counters (settings use the broker's Redis as the cache), when up.
REDIS_URL = "redis://127.0.0.1:6379/4"
_WORDS_TEXT = (
    "the a old young small dog cat man woman child house garden river road letter book door "
    "window city night morning walked opened found saw wrote read heard left took gave quiet "
    "long cold warm early late slowly never always again before after near under over"
)
WORDS = tuple(_WORDS_TEXT.split())


# --- options --------------------------------------------------------------------------------


def loopback_url(url: str) -> str:
    """`url` without a trailing slash if its host is a loopback address; else a clear error."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOOPBACK_NAMES
    if parts.scheme not in ("http", "https") or not loopback:
        raise argparse.ArgumentTypeError(
            f"{url!r} is not a loopback URL: the load benchmark only targets this machine "
            "(http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT)"
        )
    return url.rstrip("/")


def bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a probability (0..1)")
    return value


def load_database_name(text: str) -> str:
    if not text.replace("_", "").isalnum() or "load" not in text:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the benchmark drops and recreates this database, so its name must be "
            "letters, digits and _ and contain 'load' (e.g. autogen_load)"
        )
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", type=bounded_int(1, MAX_RATERS), default=200)
    parser.add_argument("--no-think", action="store_true", help="no think time: max throughput")
    parser.add_argument("--kind", choices=["pairwise", "meaningfulness", "both"], default="both")
    parser.add_argument("--cap", type=bounded_int(1, MAX_CAP), default=MAX_CAP)
    parser.add_argument(
        "--ramp", type=float, default=None, help="seconds over which raters arrive "
        "(default: 5 with think time, 0 without)",
    )  # fmt: skip
    parser.add_argument(
        "--no-js", action="store_true", help="raters without JavaScript: plain forms, each "
        "answer's POST redirected to the next question's GET (default: as rater.js answers)",
    )  # fmt: skip
    parser.add_argument("--refresh", type=probability, default=0.1, help="P(reload a question)")
    parser.add_argument("--double-submit", type=probability, default=0.05, help="P(double click)")
    parser.add_argument(
        "--two-tabs", type=bounded_int(0, MAX_RATERS), default=10,
        help="every n-th rater also answers in a stale second tab (0: none)",
    )  # fmt: skip
    parser.add_argument("--workers", type=bounded_int(1, 64), default=None)
    parser.add_argument("--threads", type=bounded_int(1, 256), default=None)
    parser.add_argument(
        "--conn-max-age", type=bounded_int(0, 3600), default=None,
        help="seconds a database connection is kept (default: the settings')",
    )  # fmt: skip
    parser.add_argument("--time-limit", type=bounded_int(10, MAX_TIME_LIMIT_S), default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", type=load_database_name, default="autogen_load")
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432",
        help="the PostgreSQL server (without a database name)",
    )  # fmt: skip
    parser.add_argument(
        "--base-url", type=loopback_url, default=None,
        help="a server already running (on the database DATABASE_URL names): no gunicorn, "
        "no fresh database",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args(argv)
    if options.ramp is None:
        options.ramp = 0.0 if options.no_think else 5.0
    if not 0 <= options.ramp <= options.time_limit / 2:
        parser.error(f"--ramp {options.ramp} must be within 0..{options.time_limit / 2}")
    if options.base_url and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        parser.error("--base-url needs DATABASE_URL: the server's PostgreSQL database")
    return options


# --- the raters (asyncio; no Django here) ---------------------------------------------------


@dataclass
class Form:
    """One HTML form as a browser would submit it."""

    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def data(self, button: tuple[str, str] | None = None) -> dict[str, str]:
        data = dict(self.fields)
        if button and button[0]:
            data[button[0]] = button[1]
        return data


# A page's markup as a browser reads its forms: the form, input and button tags in document
# order with their attributes (values unescaped), and the completion code's element. Regular
# expressions rather than html.parser: a tenth of the CPU, for pages this server writes.
TAG = re.compile(r"<(/?)(form|input|button)\b([^>]*)>", re.IGNORECASE)
ATTRIBUTE = re.compile(r'([a-zA-Z_:][-\w:.]*)(?:\s*=\s*(?:"([^"]*)"|\'([^\']*)\'|([^\s>]+)))?')
CODE = re.compile(r'id="completion-code"[^>]*>([^<]*)<')


@dataclass
class Page:
    """What a rater reads off a page: its forms and the completion code, if any."""

    forms: list[Form]
    code: str


def parse_page(markup: str) -> Page:
    forms: list[Form] = []
    form: Form | None = None
    for match in TAG.finditer(markup):
        closing, tag, attributes = match.group(1), match.group(2).lower(), match.group(3)
        attr = {
            name.lower(): html.unescape("".join(values))  # one of the three forms matched
            for name, *values in ATTRIBUTE.findall(attributes)
        }
        if tag == "form" and closing:
            form = None
        elif tag == "form":
            form = Form(attr.get("method", "get").lower(), attr.get("action", ""))
            forms.append(form)
        elif form is None or closing:
            continue
        elif tag == "input" and attr.get("name"):
            if attr.get("type", "text").lower() not in ("submit", "button", "image"):
                form.fields[attr["name"]] = attr.get("value", "")
        elif tag == "button" and attr.get("type", "submit").lower() == "submit":
            form.buttons.append((attr.get("name", ""), attr.get("value", "")))
    code = CODE.search(markup)
    return Page(forms, html.unescape(code.group(1)).strip() if code else "")


@dataclass
class RaterRecord:
    """What one simulated rater did, as the client saw it (the audit compares it with the
    database)."""

    index: int
    survey_token: str
    token: str = ""
    answers: dict[int, str] = field(default_factory=dict)  # page position → the answer sent
    stale: dict[int, str] = field(default_factory=dict)  # a stale tab's other answer
    finished: bool = False
    code: str = ""


@dataclass
class Plan:
    """How the raters behave."""

    think: tuple[float, float] | None = THINK_S
    js: bool = True  # answer as rater.js does: the next page in the answer's own response
    ramp: float = 0.0
    refresh: float = 0.1
    double_submit: float = 0.05
    two_tabs_every: int = 10
    seed: int = 0
    time_limit: float = 600.0


@dataclass
class Run:
    """What the whole run measured."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answer_times: list[float] = field(default_factory=list)  # when each answer was acknowledged
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # (sent, kind, ms)
    errors: list[str] = field(default_factory=list)
    behaviour: Counter = field(default_factory=Counter)
    records: list[RaterRecord] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


class RaterError(Exception):
    """The server answered something a browser would not have expected."""


class Rater:
    """One simulated person with their own browser (cookie jar) taking one survey."""

    def __init__(self, record, base, session, plan: Plan, run: Run, rng: random.Random) -> None:
        self.record, self.base, self.session = record, base, session
        self.plan, self.run, self.rng = plan, run, rng
        self.start_url = f"{base}/s/{record.survey_token}/"

    async def fetch(self, method: str, url: str, kind: str, data=None, extra=None):
        """One request (redirects not followed), timed under `kind`; (status, location, body)."""
        headers = {"Referer": url, **(extra or {})}
        if method == "POST":
            headers["Origin"] = self.base
        began = time.perf_counter()
        async with self.session.request(
            method, url, data=data, headers=headers, allow_redirects=False
        ) as response:
            body = await response.text()
        took = (time.perf_counter() - began) * 1000
        self.run.latencies[kind].append(took)
        self.run.timeline.append((began - self.run.started, kind, took))
        if response.status >= 400:
            raise RaterError(f"{method} {kind} answered {response.status}: {body[:200]!r}")
        return response.status, response.headers.get("Location", ""), body

    async def think(self) -> None:
        if self.plan.think:
            await asyncio.sleep(self.rng.uniform(*self.plan.think))

    async def take_survey(self) -> None:
        status, _, body = await self.fetch("GET", self.start_url, "start")
        consent = self.form(body, status, "consent page")
        await self.think()
        status, location, _ = await self.fetch(
            "POST", urljoin(self.start_url, consent.action), "consent", consent.data()
        )
        if status != 303 or "/r/" not in location:
            raise RaterError(f"consent answered {status} to {location!r}")
        url = urljoin(self.start_url, location)
        self.record.token = url.rstrip("/").rsplit("/", 1)[-1]
        second_tab = self.plan.two_tabs_every and self.record.index % self.plan.two_tabs_every == 0
        body = None  # the page in hand: the next one, from an answer's own response (rater.js)
        while True:
            if body is None:
                status, location, body = await self.fetch("GET", url, "question")
                if status == 302 and location.endswith("/done"):
                    await self.finish(urljoin(url, location))
                    return
                form = self.form(body, status, "question page")
            else:
                form = self.form(body, 200, "next page, in the answer's response")
            if self.rng.random() < self.plan.refresh:
                self.run.behaviour["refreshes"] += 1
                _, _, again = await self.fetch("GET", url, "question")
                form = self.same_question(again, form)
            stale = None
            if second_tab and len(self.record.answers) >= 2:
                stale, second_tab = await self.open_second_tab(form), False
            await self.think()
            body = await self.answer(url, form)
            if stale is not None:
                await self.think()
                await self.send_stale(url, stale)

    def form(self, body: str, status: int, what: str) -> Form:
        forms = [f for f in parse_page(body).forms if f.method == "post"]
        if status != 200 or len(forms) != 1:
            raise RaterError(f"expected a {what} with one form, got {status}: {body[:200]!r}")
        return forms[0]

    def same_question(self, body: str, form: Form) -> Form:
        again = self.form(body, 200, "reloaded question")
        if again.fields.get("q") != form.fields.get("q"):
            raise RaterError("a reloaded page showed another question")
        return again

    async def answer(self, url: str, form: Form) -> str | None:
        """Send an answer (twice at once: a double click); the next page when it came in the
        answer's own response (rater.js), else None (to be fetched: the redirect's target)."""
        position = int(form.fields["q"])
        button = self.rng.choice(form.buttons)
        target = urljoin(url, form.action)
        times = 2 if self.rng.random() < self.plan.double_submit else 1
        if times == 2:
            self.run.behaviour["double submits"] += 1
        results = await asyncio.gather(
            *(
                self.fetch("POST", target, "answer", form.data(button), self.answer_headers)
                for _ in range(times)
            )
        )
        for status, location, _ in results:
            if not self.answered(status, urljoin(url, location), url):
                raise RaterError(f"an answer was answered {status} to {location!r}")
        self.record.answers[position] = button[1]
        self.run.answer_times.append(time.perf_counter())
        status, _, body = results[0]
        return body if status == 200 else None

    @property
    def answer_headers(self) -> dict[str, str] | None:
        """What an answer's POST carries besides the browser's own headers: rater.js asks for
        the next page in the response."""
        return {NEXT_PAGE_HEADER: "1"} if self.plan.js else None

    def answered(self, status: int, location: str, url: str) -> bool:
        """Whether an answer's response is what the browser expects: with rater.js the next
        page (200) or, after the last answer, the redirect to the done page; without it the
        redirect to the question's address."""
        if self.plan.js:
            return status == 200 or (status == 302 and location == url + "done")
        return status == 303 and location == url

    async def open_second_tab(self, form: Form) -> tuple[Form, tuple[str, str]]:
        """The survey link opened again: the resume cookie leads back to the same question."""
        self.run.behaviour["second tabs"] += 1
        status, location, _ = await self.fetch("GET", self.start_url, "start")
        if status != 302 or self.record.token not in location:
            raise RaterError(f"a second tab was not sent back to the rater's page ({status})")
        _, _, body = await self.fetch("GET", urljoin(self.start_url, location), "question")
        return self.same_question(body, form), form.buttons[0]

    async def send_stale(self, url: str, stale: tuple[Form, tuple[str, str]]) -> None:
        """The second tab's form, answered differently after the first tab's answer stood."""
        form, _ = stale
        position = int(form.fields["q"])
        first = self.record.answers[position]
        other = next(b for b in form.buttons if b[1] != first)
        status, location, _ = await self.fetch(
            "POST", urljoin(url, form.action), "answer", form.data(other), self.answer_headers
        )
        if not self.answered(status, urljoin(url, location), url):
            raise RaterError(f"a stale tab's answer was answered {status} to {location!r}")
        self.record.stale[position] = other[1]
        self.run.behaviour["stale answers sent"] += 1

    async def finish(self, url: str) -> None:
        status, _, body = await self.fetch("GET", url, "done")
        code = parse_page(body).code
        if status != 200 or not code:
            raise RaterError(f"the done page ({status}) shows no completion code")
        self.record.code, self.record.finished = code, True


async def run_raters(base_url: str, survey_tokens: list[str], n: int, plan: Plan) -> Run:
    """`n` raters, shared out over `survey_tokens` in turn, against the server at `base_url`."""
    import aiohttp

    run = Run()
    master = random.Random(plan.seed)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def one(index: int) -> None:
        rng = random.Random(master.random())
        record = RaterRecord(index, survey_tokens[index % len(survey_tokens)])
        run.records.append(record)
        await asyncio.sleep(plan.ramp * index / n)
        jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies of an IP-address host
        async with aiohttp.ClientSession(
            connector=connector, connector_owner=False, cookie_jar=jar, timeout=timeout
        ) as session:
            try:
                await Rater(record, base_url, session, plan, run, rng).take_survey()
            except (RaterError, aiohttp.ClientError, TimeoutError, ValueError) as error:
                run.errors.append(f"rater {index}: {type(error).__name__}: {error}")

    run.started = time.perf_counter()
    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=plan.time_limit)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        run.errors.append(f"{len(pending)} raters still running at the {plan.time_limit} s limit")
    run.ended = time.perf_counter()
    await connector.close()
    return run


# --- figures --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def sustained_rate(times: list[float]) -> float:
    """Answers per second over the central 80% of the answers (ramp and tail left out)."""
    if len(times) < 10:
        return float("nan")
    ordered = sorted(times)
    low, high = ordered[len(ordered) // 10], ordered[len(ordered) * 9 // 10]
    return (len(ordered) * 8 // 10) / (high - low) if high > low else float("nan")


def timeline_line(run: Run, kinds=("question", "answer")) -> str:
    """The p95 of question and answer pages per tenth of the run, by when they were sent: the
    raters' arrival (and their consents, each drawing a plan) against the steady state."""
    wall = max(run.ended - run.started, 1e-9)
    buckets: list[list[float]] = [[] for _ in range(10)]
    for sent, kind, took in run.timeline:
        if kind in kinds:
            buckets[min(9, int(10 * sent / wall))].append(took)
    cells = [f"{percentile(b, 95):.0f}" if b else "-" for b in buckets]
    tenth = f"{wall / 10:.1f} s each"
    return f"p95 by tenth of the run ({tenth}), question and answer: {' '.join(cells)} ms"


def report_lines(run: Run) -> list[str]:
    wall = run.ended - run.started
    answers = len(run.answer_times)
    requests = sum(len(v) for v in run.latencies.values())
    lines = [
        f"throughput: {answers} answers in {wall:.1f} s = {answers / wall:.1f} answers/s "
        f"(sustained, central 80%: {sustained_rate(run.answer_times):.1f} answers/s); "
        f"{requests} requests = {requests / wall:.1f} requests/s"
    ]
    for kind in PAGE_KINDS:
        values = run.latencies.get(kind, [])
        if values:
            lines.append(
                f"{kind:<9} n={len(values):<6} p50 {percentile(values, 50):.0f} ms  "
                f"p95 {percentile(values, 95):.0f} ms  p99 {percentile(values, 99):.0f} ms  "
                f"max {max(values):.0f} ms  mean {statistics.fmean(values):.1f} ms"
            )
    lines.append(timeline_line(run))
    behaviour = ", ".join(f"{n} {what}" for what, n in sorted(run.behaviour.items()))
    lines.append(f"behaviour: {behaviour or 'none'}")
    lines.append(f"errors: {len(run.errors)}")
    lines += [f"  {error}" for error in run.errors[:10]]
    return lines


# --- Django: database, surveys, audit -------------------------------------------------------


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))) + " ."


def survey_items(kind: str, cap: int, rng: random.Random) -> list:
    """Items enough for every rater to get the cap, several per comparison (or model)."""
    from surveys.services import ItemSpec

    per_group = ITEMS_PER_GROUP_PER_CAP * cap
    if kind == "pairwise":
        return [
            ItemSpec(
                key=f"p{c}-{i}",
                model_1=m1,
                text_1=sentence(rng),
                model_2=m2,
                text_2=sentence(rng),
                source=sentence(rng),
            )
            for c, (m1, m2) in enumerate(COMPARISONS)
            for i in range(per_group)
        ]
    return [
        ItemSpec(key=f"m{m}-{i}", model_1=model, text_1=sentence(rng))
        for m, model in enumerate(MODELS)
        for i in range(per_group)
    ]


def create_surveys(kinds: list[str], cap: int, seed: int) -> list:
    """Open surveys of `kinds` (the cap, an instructed check and a gold question each)."""
    from surveys.services import Design, survey_create, survey_open

    rng = random.Random(seed)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    surveys = []
    for kind in kinds:
        survey = survey_create(
            name=f"load {kind} {stamp}-{secrets.token_hex(3)}",
            kind=KINDS[kind],
            items=survey_items(kind, cap, rng),
            design=Design(cap=cap, instructed_checks=1, gold_checks=1, title="Load test"),
        )
        surveys.append(survey_open(survey))
    return surveys


@dataclass
class Audit:
    """What the database holds against what the raters sent."""

    raters: int = 0
    lost: int = 0  # answers sent and acknowledged, not stored
    duplicated: int = 0  # answers stored twice, or stored where the rater sent none
    wrong: int = 0  # stored, but not the answer sent (a stale tab's overwriting it included)
    short: int = 0  # finished raters with fewer answers than the cap
    over: int = 0  # raters with more answers than the cap
    unbalanced: int = 0  # raters whose groups (or left/right sides) differ by more than one
    unknown_raters: int = 0  # raters stored that no simulated rater made
    spread: dict[str, int] = field(default_factory=dict)  # survey → max − min answers per group

    @property
    def clean(self) -> bool:
        problems = (self.lost, self.duplicated, self.wrong, self.short, self.over)
        return not any(problems) and not self.unbalanced and not self.unknown_raters

    def lines(self, cap: int) -> list[str]:
        spread = ", ".join(f"{name}: {value}" for name, value in self.spread.items())
        return [
            f"audit: {self.raters} raters, cap {cap}: {self.short} short, {self.over} over, "
            f"{self.unbalanced} unbalanced, {self.wrong} stored differently from what was "
            f"sent, {self.unknown_raters} unknown raters; answers per group, most minus "
            f"fewest: {spread}",
            f"audit: {self.lost} lost, {self.duplicated} duplicated",
        ]


def _group(item, pairwise: bool) -> str:
    return " vs ".join(sorted((item.model_1, item.model_2))) if pairwise else item.model_1


def _stored_as(choice: str, left: str) -> str:
    """The answer a page's button is stored as (services._stored_answer, read independently)."""
    if choice == "left":
        return left
    if choice == "right":
        return "model_2" if left == "model_1" else "model_1"
    return choice


def audit_survey(survey, records: list[RaterRecord], cap: int, audit: Audit) -> None:
    from django.db.models import Count

    from surveys.models import Assignment, Response

    pairwise = survey.is_pairwise
    by_token = {r.token: r for r in records if r.token}
    slots = defaultdict(dict)
    for slot in Assignment.objects.filter(rater__survey=survey).select_related("item", "rater"):
        slots[slot.rater.token][slot.position] = slot
    responses = defaultdict(dict)
    for response in Response.objects.filter(item__survey=survey).select_related("rater"):
        responses[response.rater.token].setdefault(response.item_id, []).append(response)
    doubled = Response.objects.filter(item__survey=survey).values("rater", "item")
    audit.duplicated += sum(row["n"] - 1 for row in doubled.annotate(n=Count("pk")).filter(n__gt=1))
    tokens = set(survey.raters.values_list("token", flat=True))
    audit.unknown_raters += len(tokens - set(by_token))
    groups: Counter = Counter({_group(i, pairwise): 0 for i in survey.items.all()})
    for record in records:
        audit.raters += 1
        mine, stored = slots.get(record.token, {}), responses.get(record.token, {})
        for position, choice in record.answers.items():
            slot = mine.get(position)
            if slot is None or slot.answered_at is None:
                audit.lost += 1
            elif slot.is_check:
                audit.wrong += slot.answer != choice
            elif slot.item_id not in stored:
                audit.lost += 1
            else:
                audit.wrong += stored[slot.item_id][0].answer != _stored_as(choice, slot.left)
        answered = [s for s in mine.values() if s.answered_at is not None]
        audit.duplicated += sum(s.position not in record.answers for s in answered)
        audit.duplicated += len(set(stored) - {s.item_id for s in answered if not s.is_check})
        n = len(stored)
        audit.short += record.finished and n < cap
        audit.over += n > cap
        questions = [s for s in answered if not s.is_check]
        per_group = Counter(_group(s.item, pairwise) for s in questions)
        sides = Counter(s.left for s in questions) if pairwise else Counter()
        groups.update(per_group)
        unbalanced = _spread(per_group, groups) > 1 or _spread(sides, ("model_1", "model_2")) > 1
        if record.finished and unbalanced:
            audit.unbalanced += 1
    audit.spread[survey.name.split()[1]] = _spread(groups, ())


def _spread(counts: Counter, keys) -> int:
    values = [counts.get(k, 0) for k in keys] if keys else list(counts.values())
    return max(values) - min(values) if values else 0


def audit_run(surveys: list, run: Run, cap: int) -> Audit:
    """The database, survey by survey, against each rater's record (see :class:`Audit`)."""
    audit = Audit()
    for survey in surveys:
        mine = [r for r in run.records if r.survey_token == survey.token]
        audit_survey(survey, mine, cap, audit)
    return audit


# --- gunicorn and the database ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_database(server: str, name: str) -> str:
    """Drop and create the database `name` on `server`; its URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_environment(database_url: str, var_dir: str) -> dict[str, str]:
    """What the benchmark's Django (this process and gunicorn) runs with: its own database and
    var folder, DEBUG off, the rate limits out of the way."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTOGEN_ENV": "development",
        "DEBUG": "0",
        "AUTOGEN_VAR_DIR": var_dir,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PYTHONPATH": str(ROOT),
        **dict.fromkeys(RATE_LIMIT_VARIABLES, HIGH_RATE),
    }
    env.pop("CACHE_URL", None)
    if _listening(REDIS_URL):
        env["CELERY_BROKER_URL"] = REDIS_URL  # and the cache: no task is sent
    else:
        env.pop("CELERY_BROKER_URL", None)  # the embedded broker and a file cache under var_dir
    return env


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), 1):
            return True
    except OSError:
        return False


@contextmanager
def gunicorn(
    env: dict[str, str], workers: int | None, threads: int | None
) -> Iterator[tuple[str, int]]:
    """gunicorn serving the project on a free loopback port (``gunicorn.conf.py``); its URL and
    its master's process id.
    ``env`` may set ``CONN_MAX_AGE`` and the other settings' variables."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "autogen.wsgi", "-c", "gunicorn.conf.py"]
    # --preload: Django is imported once, before the workers fork, so every worker serves at
    # once (the benchmark times pages, not the workers' start).
    command += ["--bind", f"127.0.0.1:{port}", "--preload"]
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    log_path = Path(env["AUTOGEN_VAR_DIR"]) / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server, log_path)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_serving(url: str, server: subprocess.Popen, log_path: Path) -> None:
    """Until Django answers (a 404 for a survey that does not exist)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited at start:\n{log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/s/no-such-survey/", timeout=5)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not serve within 120 s:\n{log_path.read_text()[-2000:]}")


def gunicorn_settings(env: dict[str, str], workers: int | None, threads: int | None) -> str:
    """The worker settings gunicorn.conf.py gives with these overrides, in words."""
    import runpy

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return (
        f"{workers or conf['workers']} workers × {threads or conf['threads']} threads "
        f"({conf['worker_class']}, keepalive {conf['keepalive']} s, backlog {conf['backlog']})"
    )


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autogen.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def machine_times() -> list[int]:
    """The machine's CPU time by state since boot (/proc/stat: user ... steal), in ticks."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return []


def steal_line(before: list[int], after: list[int]) -> str:
    """How busy the machine was over the run, and how much of its time the host took back
    (steal: a virtual machine's cores running someone else's work; figures taken while it is
    high come out slower than the code is)."""
    if not before or not after:
        return "machine: /proc/stat unreadable"
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent) or 1
    idle = spent[3] + spent[4]
    return (
        f"machine over the run: {100 * (total - idle - spent[7]) / total:.0f}% busy, "
        f"{100 * idle / total:.0f}% idle, {100 * spent[7] / total:.0f}% stolen by the host"
    )


class BackendWatch:
    """CPU seconds the database's server processes spent while it ran (this benchmark's own
    connection left out), polled every `every` seconds: a backend that ends mid-run (a
    persistent connection past ``CONN_MAX_AGE`` is replaced) still counts, up to its last poll."""

    def __init__(self, params: dict, every: float = 0.5) -> None:
        import threading

        self.params, self.every = params, every
        self.first: dict[int, float] = {}  # CPU when first seen (0: started during the run)
        self.last: dict[int, float] = {}
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(**{**self.params, "autocommit": True}) as conn:
            while True:
                self.poll(self._backends(conn))
                if self._stop.wait(self.every):
                    self.poll(self._backends(conn))
                    return

    @staticmethod
    def _backends(conn) -> dict[int, float]:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return {pid: _cpu_seconds(pid) for (pid,) in rows}

    def poll(self, seen: dict[int, float]) -> None:
        for pid, cpu in seen.items():
            if cpu <= 0 and pid in self.last:
                continue  # gone since it was listed
            self.first.setdefault(pid, cpu if not self._started else 0.0)
            self.last[pid] = max(cpu, self.last.get(pid, 0.0))
        self._started = True

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def cpu_use(server_pid: int | None) -> dict[str, float]:
    """CPU seconds so far: gunicorn's workers and this process (the raters); PostgreSQL's
    backends are counted by :class:`BackendWatch` while the raters run."""
    workers = _children(server_pid) if server_pid else []
    return {
        "gunicorn workers": sum(map(_cpu_seconds, workers)),
        "raters (this process)": time.process_time(),
    }


# --- main -----------------------------------------------------------------------------------


def plan_from(options: argparse.Namespace) -> Plan:
    return Plan(
        think=None if options.no_think else THINK_S,
        js=not options.no_js,
        ramp=options.ramp,
        refresh=options.refresh,
        double_submit=options.double_submit,
        two_tabs_every=options.two_tabs,
        seed=options.seed,
        time_limit=options.time_limit,
    )


def _check_rate_limits(options: argparse.Namespace) -> None:
    """Say so when a rate limit would throttle the raters (they share one address)."""
    from django.conf import settings

    limits = getattr(settings, "RATE_LIMITS", {})
    low = {name: rate for name, rate in limits.items() if rate and rate[0] * 60 / rate[1] < 1e5}
    if low and not options.base_url:
        print(f"warning: rate limits low enough to throttle this test: {low}")
    print("rate limits: " + ", ".join(f"{n} {r[0]}/{r[1]} s" if r else f"{n} off"
                                      for n, r in limits.items()))  # fmt: skip


def benchmark(
    options: argparse.Namespace, base_url: str, env_note: str, server_pid: int | None = None
) -> bool:
    """Surveys, raters, figures and audit on a server already up; True when all is clean."""
    kinds = ["pairwise", "meaningfulness"] if options.kind == "both" else [options.kind]
    surveys = create_surveys(kinds, options.cap, options.seed)
    think = "no think time" if options.no_think else f"think {THINK_S[0]}–{THINK_S[1]} s"
    print(
        f"load: {options.raters} raters over {len(surveys)} survey(s) ({', '.join(kinds)}; cap "
        f"{options.cap} + 2 checks), {think}, ramp {options.ramp:g} s, "
        f"{'without JavaScript (plain forms)' if options.no_js else 'answering as rater.js does'}"
        f"; {env_note}"
    )
    _check_rate_limits(options)
    print("load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    from django.db import connection

    before, machine_before = cpu_use(server_pid), machine_times()
    # This process holds Django and what it imports (torch, pandas: ~350,000 objects): a full
    # garbage collection walked them all, ~200 ms with every rater's clock running. Frozen,
    # the collector sees only what the raters make (gunicorn.conf.py does the same).
    gc.freeze()
    with BackendWatch(connection.get_connection_params()) as database:
        run = asyncio.run(
            run_raters(base_url, [s.token for s in surveys], options.raters, plan_from(options))
        )
    after, machine_after = cpu_use(server_pid), machine_times()
    print("load average after:  " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    for line in report_lines(run):
        print(line)
    requests = sum(len(v) for v in run.latencies.values()) or 1
    spent = {
        "gunicorn workers": after["gunicorn workers"] - before["gunicorn workers"],
        "PostgreSQL": database.seconds,
        "raters (this process)": after["raters (this process)"] - before["raters (this process)"],
    }
    print(
        "CPU per request: "
        + ", ".join(
            f"{name} {seconds * 1000 / requests:.2f} ms"
            for name, seconds in spent.items()
            if server_pid or name != "gunicorn workers"
        )
    )
    print(steal_line(machine_before, machine_after))
    audit = audit_run(surveys, run, options.cap)
    for line in audit.lines(options.cap):
        print(line)
    if options.base_url and not options.keep:
        for survey in surveys:
            survey.delete()
    return audit.clean and not run.errors


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.base_url:
        setup_django({"DATABASE_URL": os.environ["DATABASE_URL"]})
        return 0 if benchmark(options, options.base_url, f"server {options.base_url}") else 1
    database_url = fresh_database(options.postgres, options.database)
    try:
        with tempfile.TemporaryDirectory(prefix="load-raters-") as var_dir:
            env = server_environment(database_url, var_dir)
            if options.conn_max_age is not None:
                env["CONN_MAX_AGE"] = str(options.conn_max_age)
            setup_django(env)
            settings = gunicorn_settings(env, options.workers, options.threads)
            with gunicorn(env, options.workers, options.threads) as (url, pid):
                note = f"gunicorn {settings}, PostgreSQL {options.database}"
                clean = benchmark(options, url, note, pid)
    finally:
        if not options.keep:
            from django.db import connections

            connections.close_all()
            drop_database(options.postgres, options.database)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
