"""Browser tests: Debian's chromium (``/usr/bin/chromium``, installed by apt; never a downloaded
browser) driven by Playwright's sync API against pytest-django's live server.

Locally the tests skip when chromium is missing; with ``AUTOGEN_REQUIRE_BROWSER=1`` (CI) they
fail instead.

Playwright's sync API keeps an event loop running in the test thread, and Django then refuses
ORM calls from it (``SynchronousOnlyOperation``): while a browser is up (one per test module),
``DJANGO_ALLOW_ASYNC_UNSAFE`` is set, the accepted workaround for tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("AUTOGEN_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Nothing outside the live server resolves: a test never reaches the network (a crowd
    # platform's completion page included; the tests see the browser ask for it).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]
# A phone: an iPhone-sized viewport, touch, and the mobile layout.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "en-GB",
}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"{message}; AUTOGEN_REQUIRE_BROWSER=1: CI needs the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def phone(chromium) -> Iterator[object]:
    """A fresh phone-sized browser context (its own cookies), closed after the test."""
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()
