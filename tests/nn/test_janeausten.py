"""Jane Austen's novels from Debian's r-cran-janeaustenr: fetched, unpacked, read, cached."""

from __future__ import annotations

import shutil

import pytest

from models_core.nn import janeausten
from models_core.nn.books import detect_format
from models_core.nn.textfiles import CorpusError

needs_apt = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None,
    reason="Debian's apt-get and dpkg-deb fetch the package",
)


@needs_apt
def test_the_six_novels_come_from_the_debian_package_and_are_cached(tmp_path):
    paths = janeausten.austen_books(tmp_path)
    assert [p.stem for p in paths] == list(janeausten.BOOKS)
    pride = paths[janeausten.BOOKS.index("prideprejudice")].read_text()
    assert pride.startswith("PRIDE AND PREJUDICE")
    assert "It is a truth universally acknowledged, that a single man in possession" in pride
    assert all(p.stat().st_size > 300_000 for p in paths)
    assert detect_format(paths[0]) == "raw"
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert janeausten.austen_books(tmp_path) == paths  # the second call reads the cache
    assert [p.stat().st_mtime_ns for p in paths] == stamps


def test_without_apt_the_error_says_how_to_use_other_books(tmp_path, monkeypatch):
    monkeypatch.setattr(janeausten.shutil, "which", lambda name: None)
    with pytest.raises(CorpusError, match=r"--corpus PATH"):
        janeausten.austen_books(tmp_path)
    assert not list((tmp_path / janeausten.SOURCE_NAME).glob("*.txt"))


def test_a_broken_database_is_a_corpus_error(tmp_path):
    rdx, rdb = tmp_path / "Rdata.rdx", tmp_path / "Rdata.rdb"
    rdx.write_bytes(b"\x00\x00\x00\x10not zlib at all")
    rdb.write_bytes(b"")
    with pytest.raises(CorpusError, match="not a readable R lazy-load database"):
        janeausten.read_lazyload(rdx, rdb)
