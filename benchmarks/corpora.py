"""Where the shared test corpora are (tests and benchmarks only; the product never reads them).

Looked for in order: ``$AUTOGEN_CORPORA``, ``../shared/corpora`` beside the checkout, and
``/work/shared/corpora`` (where a clone made elsewhere, e.g. by CI, still finds them).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (
    os.environ.get("AUTOGEN_CORPORA", ""),
    str(ROOT.parent / "shared" / "corpora"),
    "/work/shared/corpora",
)


def shared_corpora() -> Path:
    """The corpora folder; the first candidate that exists (the second if none does)."""
    found = next((Path(c) for c in CANDIDATES if c and Path(c).is_dir()), None)
    return found if found is not None else Path(CANDIDATES[1])
