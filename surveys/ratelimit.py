"""Rate limits on the public rater pages: survey entry per client address, answers per address
and per rater token. Beyond a limit the page is HTTP 429 with a readable message and a
``Retry-After`` header; nothing reaches the view, so nothing is stored.

Limits come from settings (``RATE_LIMITS``: ``(count, seconds)`` or None for off, from the
``AUTOGEN_RATE_LIMIT_*`` variables). Counters live in Django's cache (Redis when configured,
else files under ``var/``: shared by every web process) in fixed windows of the limit's length.
With Redis, all of a request's counters are counted in one round trip (one small Lua script:
INCR, and EXPIRE on a window's first count). A cache that fails lets the request through: an
outage of the counters must not stop raters.
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
REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
DJANGO_OPTIONS = ("pool_class", "parser_class", "serializer")  # the cache's, not redis-py's


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


def _window(name: str, key: str, now: float) -> tuple[str, int, int, float] | None:
    """Limit `name` for `key` now: its counter's cache key, its count, its length in seconds
    and when its window ends; None when the limit is off."""
    rate = settings.RATE_LIMITS.get(name)
    if rate is None:
        return None
    count, seconds = rate
    window = int(now // seconds)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}:{window}", count, seconds, (window + 1) * seconds


# KEYS: the counters; ARGV: each one's lifetime in seconds. Returns the counts.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


@functools.lru_cache(maxsize=4)
def _redis(location: str, options: tuple):
    """The counting script on one client per Redis (and process: its pool opens new
    connections after a fork)."""
    import redis

    return redis.Redis.from_url(location, **dict(options)).register_script(COUNT_SCRIPT)


def _redis_of_cache():
    """The counting script on the Redis behind the cache, when it is Django's Redis cache
    (with one server), else None. Django's cache makes three round trips per counter and a
    new client per call; the script counts all of a request's counters in one."""
    config = settings.CACHES["default"]
    location = config.get("LOCATION", "")
    if config.get("BACKEND") != REDIS_BACKEND or not isinstance(location, str) or "," in location:
        return None
    options = {k: v for k, v in config.get("OPTIONS", {}).items() if k not in DJANGO_OPTIONS}
    return _redis(location, tuple(sorted(options.items())))


def _counts(keys: list[tuple[str, int]]) -> list[int]:
    """Count one request against each (cache key, seconds) counter; the counts so far."""
    count = _redis_of_cache()
    if count is not None:
        return count(keys=[cache.make_key(key) for key, _ in keys], args=[s + 1 for _, s in keys])
    used = []
    for key, seconds in keys:
        cache.add(key, 0, timeout=seconds + 1)
        try:
            used.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds + 1)
            used.append(1)
    return used


def _hits(limits: list[tuple[str, str]]) -> int | None:
    """Count one request against each (limit name, key); the seconds until the first exceeded
    limit's window ends, or None when none is exceeded."""
    now = time.time()
    windows = [w for w in (_window(name, key, now) for name, key in limits) if w is not None]
    if not windows:
        return None
    try:
        used = _counts([(key, seconds) for key, _, seconds, _ in windows])
    except Exception:  # the cache is down: let raters through, say so in the log
        logger.warning("rate limits not counted: the cache failed", exc_info=True)
        return None
    for (_, count, _, ends), n in zip(windows, used, strict=True):
        if n > count:
            return max(1, math.ceil(ends - now))
    return None


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
                limits = [(f"{scope}_ip", client_ip(request))]
                if token_arg is not None:
                    limits.append((f"{scope}_token", str(kwargs.get(token_arg, ""))))
                retry = _hits(limits)
                if retry is not None:
                    return too_many_requests(request, retry)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
