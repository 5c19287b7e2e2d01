"""Jane Austen's six novels (public domain) from Debian's ``r-cran-janeaustenr``, as text files.

The demo's real books come from the package registries alone: ``apt-get download`` fetches the
Debian package (no root needed), ``dpkg-deb -x`` unpacks it, and the novels sit in R's lazy-load
database (``data/Rdata.rdx`` indexes ``data/Rdata.rdb``), which :mod:`rdata` parses. Each novel
is written once, as one line per printed line, to ``<cache>/janeausten/<book>.txt``; the raw-book
importer reads those like any other book. Pure Python (no Django, no torch).
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from models_core.nn.textfiles import CorpusError, _atomic_write_lines

PACKAGE = "r-cran-janeaustenr"
SOURCE_NAME = "janeausten"  # the named source `import_corpus --source janeausten`
BOOKS = (
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
)
DATA_DIR = Path("usr/lib/R/site-library/janeaustenr/data")
NO_APT = (
    "apt-get is not available to fetch Debian's r-cran-janeaustenr; point the demo at any folder "
    "of plain-text books instead (--corpus PATH)."
)
COMMAND_TIMEOUT_S = 300


def austen_books(cache: Path) -> list[Path]:
    """The six novels as text files under ``cache/janeausten/``, fetched on first use."""
    folder = Path(cache) / SOURCE_NAME
    paths = [folder / f"{book}.txt" for book in BOOKS]
    if all(path.exists() for path in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = _download_and_unpack(Path(tmp))
        novels = read_lazyload(unpacked / DATA_DIR / "Rdata.rdx", unpacked / DATA_DIR / "Rdata.rdb")
    for book, path in zip(BOOKS, paths, strict=True):
        if book not in novels:
            raise CorpusError(PACKAGE, f"the package holds no {book!r} novel")
        _atomic_write_lines(path, novels[book])
    return paths


def _download_and_unpack(tmp: Path) -> Path:
    """``apt-get download`` the package into `tmp` and unpack it; the unpacked root."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise CorpusError(PACKAGE, NO_APT)
    _run(["apt-get", "download", PACKAGE], cwd=tmp)
    debs = sorted(tmp.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise CorpusError(PACKAGE, "apt-get download left no .deb file")
    root = tmp / "unpacked"
    _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], cwd=tmp)
    return root


def _run(command: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusError(PACKAGE, f"{command[0]} failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CorpusError(PACKAGE, f"{' '.join(command[:2])} failed: {last}. {NO_APT}")


def read_lazyload(rdx: Path, rdb: Path) -> dict[str, list[str]]:
    """Character vectors stored in an R lazy-load database, by name.

    The index (``.rdx``) is a serialised R list, gzip- or zlib-compressed, whose ``variables``
    give each object's offset and length in the ``.rdb``; each object there is a 4-byte length
    followed by its zlib-compressed serialisation.
    """
    import rdata  # a heavy import, needed only here

    def parse(raw: bytes):  # headerless serialisations, as in an .rds file
        return rdata.conversion.convert(rdata.parser.parse_data(raw, extension=".rds"))

    try:
        packed = rdx.read_bytes()
        gzipped = packed[:2] == b"\x1f\x8b"
        index = parse(gzip.decompress(packed) if gzipped else zlib.decompress(packed[4:]))
        data = rdb.read_bytes()
        out = {}
        for name, (offset, length) in index["variables"].items():
            chunk = data[int(offset) : int(offset) + int(length)]
            (size,) = struct.unpack(">i", chunk[:4])
            raw = zlib.decompress(chunk[4:])
            if len(raw) != size:
                raise ValueError(f"{name}: {len(raw)} bytes, {size} announced")
            out[str(name)] = [str(line) for line in parse(raw)]
    except (OSError, ValueError, KeyError, zlib.error, struct.error) as exc:
        raise CorpusError(rdx, f"not a readable R lazy-load database ({exc})") from None
    return out
