"""The demo on a fresh machine: books imported, the four models trained on its own worker, two
surveys decoded and opened; a rater completes each over HTTP, and the reports build. Run
again, it trains and decodes nothing and serves at once; SIGTERM stops it and its worker."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from autogen.management.commands.demo import REFUSED_IN_PRODUCTION
from models_core.management.commands.import_corpus import PATHS_OR_SOURCE
from tests.conftest import (
    ROOT,
    SHARED_CORPORA,
    TEST_SECRET_KEY,
    clean_env,
    require_corpus,
    run_manage,
)

PAPER_SURVEYS = [("Paper Table 2 (reconstructed)", 967), ("Paper Table 4 (reconstructed)", 440)]
# Books for `--corpus` where apt-get cannot fetch Debian's r-cran-janeaustenr.
FALLBACK_BOOKS = ("austen_emma.txt", "austen_pride-and-prejudice.txt")


def book_arguments(tmp_path: Path) -> list[str]:
    """Nothing (the demo fetches Jane Austen's novels with apt-get), or ``--corpus`` and a
    folder of two of her novels from the shared corpora."""
    if shutil.which("apt-get") and shutil.which("dpkg-deb"):
        return []
    folder = tmp_path / "books"
    folder.mkdir()
    for name in FALLBACK_BOOKS:
        shutil.copy(require_corpus(SHARED_CORPORA / "novels" / name), folder / name)
    return ["--corpus", str(folder)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Rater:
    """A browser without JavaScript: follows redirects, keeps cookies, sends the forms."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, url: str) -> tuple[str, str]:
        with self.opener.open(url, timeout=30) as response:
            assert response.status == 200, url
            return response.url, response.read().decode()

    def post(self, url: str, page: str, **fields: str) -> tuple[str, str]:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        with self.opener.open(request, timeout=30) as response:
            assert response.status == 200, url
            return response.url, response.read().decode()

    def complete(self, link: str, choices: tuple[str, ...]) -> int:
        """Consent, then answer every question (cycling through `choices`); how many."""
        url, page = self.get(link)
        consent = re.search(r'name="consent" value="([^"]+)"', page).group(1)
        url, page = self.post(url, page, consent=consent)
        answered = 0
        while "/done" not in url:
            position = re.search(r'name="q" value="(\d+)"', page).group(1)
            choice = choices[answered % len(choices)]
            url, page = self.post(url, page, q=position, answer=choice)
            answered += 1
            assert answered <= 100, "the survey never ended"
        return answered


def wait_until_serving(demo: subprocess.Popen, port: int, log: Path, deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


def test_the_fast_demo_trains_decodes_opens_two_surveys_and_serves_them_again(tmp_path):
    var = tmp_path / "var"
    env = clean_env(AUTOGEN_VAR_DIR=str(var), PYTHONUNBUFFERED="1")
    books = book_arguments(tmp_path)
    first = run_manage("demo", "--no-serve", "--json", "--fast", *books, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)  # one JSON object, nothing else on stdout
    assert (summary["admin_user"], summary["admin_password"]) == ("admin", "admin")
    assert summary["admin_url"] == "http://127.0.0.1:8000/admin/"
    assert [s["kind"] for s in summary["surveys"]] == ["pairwise", "meaningfulness"]
    assert "Created demo account 'admin'" in first.stderr
    assert "Decoding reconstructions and prior samples on the worker" in first.stderr
    with sqlite3.connect(var / "db.sqlite3") as db:
        runs = db.execute(
            "SELECT objective, m, status, step, total_steps, final_metrics, worker "
            "FROM models_core_trainingrun ORDER BY id"
        ).fetchall()
        surveys = dict(
            db.execute(
                "SELECT s.name, COUNT(i.id) FROM surveys_survey s JOIN surveys_item i "
                "ON i.survey_id = s.id WHERE s.status = 'open' GROUP BY s.name"
            ).fetchall()
        )
        examples = db.execute(
            "SELECT s.name, COUNT(r.id) FROM surveys_survey s JOIN surveys_item i "
            "ON i.survey_id = s.id JOIN surveys_response r ON r.item_id = i.id "
            "GROUP BY s.name ORDER BY s.name"
        ).fetchall()
        decoded = db.execute(
            "SELECT COUNT(*), SUM(passes_filter) FROM models_core_decoding WHERE mode = 'prior'"
        ).fetchone()
    # The paper's four models, trained to the end by the demo's worker and evaluated.
    assert [(r[0], r[1]) for r in runs] == [
        ("vae", 0.0), ("vae-anneal", 0.0), ("autogen", 1.0), ("autogen", 2.0)
    ]  # fmt: skip
    assert all(r[2] == "succeeded" and r[3] == r[4] == 200 for r in runs), runs
    assert all("evaluation" in json.loads(r[5]) and r[6].startswith("demo@") for r in runs)
    # Three comparisons of 5 pairs; 5 filtered prior samples per model.
    pairwise, meaningful = (s["name"] for s in summary["surveys"])
    assert surveys[pairwise] == 15 and surveys[meaningful] == 20
    assert decoded[0] >= 20 and decoded[1] >= 20
    assert examples == PAPER_SURVEYS  # the paper's-counts surveys stay as examples

    # Again: everything is found, nothing trained or decoded, and it serves at once.
    port = free_port()
    log = tmp_path / "again.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--fast", "--port", str(port), *books],
            cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    worker = None
    try:
        wait_until_serving(demo, port, log, time.monotonic() + 120)
        text = log.read_text()
        worker = int(re.search(r"Celery worker \(pid (\d+)\)", text).group(1))
        assert "Found the paper's four models" in text and "Created demo account" not in text
        assert "Decoding" not in text and "Imported" not in text
        links = re.findall(r"Rater link, (\w+) survey .*: (http://\S+)", text)
        assert [kind for kind, _ in links] == ["pairwise", "meaningfulness"]
        assert all(f"127.0.0.1:{port}/s/" in link for _, link in links)
        # One rater completes each survey in a browser without JavaScript.
        assert Rater().complete(links[0][1], ("left", "right", "discard")) == 15
        assert Rater().complete(links[1][1], ("yes", "no")) == 20
        # Every printed admin page answers (the login page for a visitor).
        for url in re.findall(r"(http://127\.0\.0\.1:\d+/admin/\S*?)[ ,;)]", text):
            assert urllib.request.urlopen(url, timeout=30).status == 200, url
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0, log.read_text()
        deadline = time.monotonic() + 30
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(worker), "the demo left its Celery worker running"
    finally:  # whatever failed, leave no process behind
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        if worker is not None and alive(worker):
            os.killpg(worker, signal.SIGKILL)

    # The reports build from what the raters answered.
    for name, answers in ((pairwise, 15), (meaningful, 20)):
        report = run_manage("survey_report", name, "--format", "json", env=env)
        assert report.returncode == 0, report.stderr
        assert str(answers) in report.stdout
        assert json.loads(report.stdout)


def test_demo_refuses_production_mode(tmp_path):
    env = clean_env(
        AUTOGEN_VAR_DIR=str(tmp_path),
        AUTOGEN_ENV="production",
        SECRET_KEY=TEST_SECRET_KEY,
        ALLOWED_HOSTS="lab.example.org",
    )
    result = run_manage("demo", "--no-serve", env=env)
    assert result.returncode != 0
    assert REFUSED_IN_PRODUCTION in result.stderr


def test_demo_says_what_to_do_with_a_folder_without_books(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path / "var"))
    result = run_manage("demo", "--no-serve", "--no-worker", "--corpus", str(empty), env=env)
    assert result.returncode != 0
    assert "no .txt books in this folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_without_apt_the_demo_points_at_the_corpus_option(tmp_path):
    # A PATH without apt-get (nor dpkg-deb): the books cannot be fetched.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path / "var"), PATH=str(bin_dir))
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--no-worker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--corpus PATH" in result.stderr
    with sqlite3.connect(tmp_path / "var" / "db.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM models_core_corpus").fetchone() == (0,)


def test_import_corpus_takes_the_austen_novels_as_a_named_source(tmp_path):
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("apt-get and dpkg-deb are needed to fetch Debian's r-cran-janeaustenr")
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path))
    assert run_manage("migrate", env=env).returncode == 0
    result = run_manage("import_corpus", "--source", "janeausten", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["corpus"] == "janeausten" and len(report["files"]) == 6
    assert report["n_train"] > 20_000  # six novels, not one
    assert sorted(p.name for p in (tmp_path / "cache" / "janeausten").iterdir()) == sorted(
        Path(f).name for f in report["files"]
    )


def test_import_corpus_wants_files_or_a_source_not_both():
    with pytest.raises(CommandError, match=re.escape(PATHS_OR_SOURCE)):
        call_command("import_corpus", "book.txt", "--source", "janeausten", stdout=StringIO())
    with pytest.raises(CommandError, match=re.escape(PATHS_OR_SOURCE)):
        call_command("import_corpus", "--name", "x", stdout=StringIO())
