"""Rate limits on the public rater pages: survey entry per client address, answers per address
and per rater token. Beyond a limit the page is HTTP 429 with a readable message and a
``Retry-After`` header; nothing reaches the view, so nothing is stored.

Limits come from settings (``RATE_LIMITS``: ``(count, seconds)`` or None for off, from the
``AUTOGEN_RATE_LIMIT_*`` variables). Counters live in Django's cache (Redis when configured,
else files under ``var/``: shared by every web process) in fixed windows of the limit's length.
A cache that fails lets the request through: an outage of the counters must not stop raters.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

TOO_MANY_TITLE = "Too many requests"
TOO_MANY_TEXT = (
    "This page was asked for too often in a short time. Please wait a minute, then reload "
    "the page: your answers so far are saved."
)
MESSAGE_TEMPLATE = "surveys/rater/message.html"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind ``TRUSTED_PROXIES`` proxies that append
    to X-Forwarded-For, the address the outermost of them saw (never a value the client set)."""
    hops = settings.TRUSTED_PROXIES
    if hops > 0:
        seen = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        seen = [part for part in seen if part]
        if len(seen) >= hops:
            return seen[-hops][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def _hit(name: str, key: str) -> int | None:
    """Count one request of `key` against limit `name`; the seconds until its window ends when
    the limit is exceeded, else None."""
    rate = settings.RATE_LIMITS.get(name)
    if rate is None:
        return None
    count, seconds = rate
    now = time.time()
    window = int(now // seconds)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    cache_key = f"ratelimit:{name}:{digest}:{window}"
    try:
        cache.add(cache_key, 0, timeout=seconds + 1)
        try:
            used = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=seconds + 1)
            used = 1
    except Exception:  # the cache is down: let raters through, say so in the log
        logger.warning("rate limit %s not counted: the cache failed", name, exc_info=True)
        return None
    if used <= count:
        return None
    return max(1, math.ceil((window + 1) * seconds - now))


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    """HTTP 429 with a page a rater can read, and when to try again."""
    context = {"title": TOO_MANY_TITLE, "heading": TOO_MANY_TITLE, "text": TOO_MANY_TEXT}
    response = render(request, MESSAGE_TEMPLATE, context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(
    scope: str, *, methods: Iterable[str], token_arg: str | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A view decorator: requests of `methods` count against ``<scope>_ip`` for the client's
    address and, with `token_arg` (the URL argument holding a token), ``<scope>_token``."""
    methods = frozenset(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in methods:
                retry = _hit(f"{scope}_ip", client_ip(request))
                if retry is None and token_arg is not None:
                    retry = _hit(f"{scope}_token", str(kwargs.get(token_arg, "")))
                if retry is not None:
                    return too_many_requests(request, retry)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
