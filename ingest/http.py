"""Shared HTTP plumbing for everything that talks to arXiv: client factory, pacer, retry policy.

* `make_client` builds an `httpx.Client` with our User-Agent and timeouts.
* `Pacer` guarantees a minimum pause between requests of one client (arXiv asks for >= 3 s), measured on
  a monotonic clock; clock and sleep are injectable so tests never really sleep.
* `retry_policy` is the tenacity policy: retry on 406/429/500/502/503/504, timeouts and dropped connections,
  exponential backoff from `backoff_s` doubling per retry (capped), honouring `Retry-After`. A host that cannot
  be reached at all (DNS failure, network unreachable, connection refused: `is_unreachable`) is NOT retried:
  one probe says arXiv is offline, and callers take their offline path at once.
* Every request names what it accepts (`ACCEPT_FEED`, `ACCEPT_API`, `ACCEPT_PDF`, `ACCEPT_HTML`): arXiv answers
  406 Not Acceptable to clients whose Accept header it does not like.
* `send` = pacer + retry + status check in one call; non-retryable statuses (404, 400, ...) come back as
  the response so callers can read arXiv's error bodies.
"""

from __future__ import annotations

import email.utils
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from paperrag.errors import PaperragError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({406, 429, 500, 502, 503, 504})
ACCEPT_FEED = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.7"
ACCEPT_API = "application/atom+xml, application/xml;q=0.9, text/xml;q=0.8"
ACCEPT_PDF = "application/pdf, application/octet-stream;q=0.5"
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9"
DEFAULT_USER_AGENT = "paperrag/0.1 (local research assistant)"
MAX_BACKOFF_S = 60.0  # cap on the exponential backoff
MAX_RETRY_AFTER_S = 600.0  # a Retry-After above this is clamped (a broken or hostile header must not hang us)


# --------------------------------------------------------------------------------------------- errors
class HTTPStatusError(PaperragError):
    """A response with a status we could not use; `retry_after` (seconds) when the server sent one."""

    def __init__(self, url: str, status: int, reason: str = "", retry_after: float | None = None):
        self.url = url
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        text = f"HTTP {status}{' ' + reason if reason else ''} from {url}"
        if retry_after is not None:
            text += f" (Retry-After {retry_after:g} s)"
        super().__init__(text)


class RetryableHTTPError(HTTPStatusError):
    """406 / 429 / 5xx: worth another try after a pause."""


_UNREACHABLE_WORDS = (
    "name or service not known", "nodename nor servname", "temporary failure in name resolution",
    "no address associated", "getaddrinfo", "name resolution", "network is unreachable", "no route to host",
    "connection refused", "errno -2", "errno -3", "errno -5", "errno 101", "errno 111", "errno 113",
)


def is_unreachable(exc: BaseException) -> bool:
    """The host cannot be reached at all (DNS failure, network unreachable, connection refused): retrying in a
    few seconds does not help; the offline path does. A timeout or a dropped connection is not this."""
    if isinstance(exc, httpx.TimeoutException) or not isinstance(exc, httpx.ConnectError):
        return False
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:  # the socket error under httpx/httpcore's wrappers
        seen.add(id(err))
        if isinstance(err, (ConnectionRefusedError, socket.gaierror)):
            return True
        if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED):
            return True
        if any(w in str(err).lower() for w in _UNREACHABLE_WORDS):
            return True
        err = err.__cause__ or err.__context__
    return False


class HostUnreachable(PaperragError):
    """Raised by callers that stop after the one probe (see `is_unreachable`)."""


def describe_error(exc: BaseException, attempts: int | None = None) -> str:
    """A sentence for a failed request, e.g. 'HTTP 503 Service Unavailable from URL after 5 attempts'."""
    if isinstance(exc, HTTPStatusError):
        text = str(exc)
    elif isinstance(exc, httpx.TimeoutException):
        text = f"timed out ({type(exc).__name__})"
        url = _request_url(exc)
        if url:
            text += f" fetching {url}"
    elif isinstance(exc, httpx.TransportError):
        text = f"connection failed ({type(exc).__name__}: {exc})"
        if is_unreachable(exc):
            url = _request_url(exc)
            text = f"host unreachable ({exc})" + (f" fetching {url}" if url else "")
    else:
        name = type(exc).__name__
        text = str(exc) if name.startswith("_") and str(exc) else f"{name}: {exc}"
    if attempts and attempts > 1:
        text += f" after {attempts} attempts"
    return text


def _request_url(exc: httpx.HTTPError) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # no request attached
        return ""


# --------------------------------------------------------------------------------------------- client
def make_client(
    user_agent: str = DEFAULT_USER_AGENT,
    timeout_s: float = 30.0,
    *,
    follow_redirects: bool = True,
    transport: httpx.BaseTransport | None = None,
    accept: str = "*/*",
) -> httpx.Client:
    """An httpx client with our User-Agent and an explicit Accept (`ACCEPT_*`; a request may name its own);
    `timeout_s` applies to connect, read, write and pool waits."""
    return httpx.Client(
        headers={"User-Agent": user_agent, "Accept": accept},
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=follow_redirects,
        transport=transport,
    )


# --------------------------------------------------------------------------------------------- pacing
class Pacer:
    """Keeps >= `delay_s` between the starts of consecutive requests (thread-safe, monotonic clock).

    `wait()` is called right before each request, retries included; the first call never waits.
    """

    def __init__(
        self,
        delay_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.delay_s = float(delay_s)
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Sleep as long as needed, mark the request start; returns the seconds slept."""
        with self._lock:
            slept = 0.0
            if self._last is not None and self.delay_s > 0:
                remaining = self._last + self.delay_s - self._clock()
                while remaining > 0:  # loop: sleep() may return early
                    self._sleep(remaining)
                    slept += remaining
                    remaining = self._last + self.delay_s - self._clock()
            self._last = self._clock()
            return slept


# --------------------------------------------------------------------------------------------- retry
def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds ('120') or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


def is_retryable(exc: BaseException) -> bool:
    """406/429/5xx, timeouts, connection errors (incl. a server closing mid-body) — not an unreachable host."""
    if is_unreachable(exc):
        return False
    return isinstance(exc, (RetryableHTTPError, httpx.TimeoutException, httpx.TransportError))


@dataclass
class BackoffWait:
    """tenacity wait: backoff_s, 2*backoff_s, 4*backoff_s, ... capped at max_s; at least Retry-After."""

    backoff_s: float
    max_s: float = MAX_BACKOFF_S

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Pause before retry `retry_number` (1 = first retry)."""
        pause = min(self.backoff_s * (2 ** max(0, retry_number - 1)), self.max_s)
        if retry_after is not None:
            pause = max(pause, retry_after)
        return max(0.0, pause)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        return self.delay(state.attempt_number, retry_after)


def retry_policy(
    retries: int,
    backoff_s: float,
    *,
    max_backoff_s: float = MAX_BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
    retry_on: Callable[[BaseException], bool] = is_retryable,
) -> Retrying:
    """The tenacity policy. `retries` = total attempts (>= 1); the last error is re-raised as is."""

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        pause = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("attempt %d failed (%s); retrying in %.1f s", state.attempt_number, describe_error(exc), pause)

    return Retrying(
        stop=stop_after_attempt(max(1, int(retries))),
        wait=BackoffWait(backoff_s, max_backoff_s),
        retry=retry_if_exception(retry_on),
        sleep=sleep,
        reraise=True,
        before_sleep=_log,
    )


def check_status(response: httpx.Response) -> httpx.Response:
    """Raise RetryableHTTPError for 406/429/5xx (with Retry-After); return any other response."""
    if response.status_code in RETRY_STATUSES:
        raise RetryableHTTPError(
            _response_url(response),
            response.status_code,
            response.reason_phrase,
            parse_retry_after(response.headers.get("Retry-After")),
        )
    return response


def _response_url(response: httpx.Response) -> str:
    try:
        return str(response.request.url)
    except RuntimeError:  # a response built by hand, without a request
        return ""


@dataclass
class Attempts:
    """How many attempts the last `send` made (for reasons like '... after 3 attempts')."""

    count: int = 0


def send(
    client: httpx.Client,
    url: str,
    *,
    params: dict | None = None,
    retries: int = 5,
    backoff_s: float = 3.0,
    max_backoff_s: float = MAX_BACKOFF_S,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float | None = None,
    attempts: Attempts | None = None,
    accept: str | None = None,
) -> httpx.Response:
    """GET with pacing and retries; returns the (read) response unless it is retryable.

    Raises `RetryableHTTPError` / `httpx.TimeoutException` / `httpx.TransportError` once the attempts are
    used up. A 4xx other than 429 is returned, not raised: arXiv explains errors in the body.
    """
    counter = attempts if attempts is not None else Attempts()
    counter.count = 0
    kwargs: dict = {"params": params}
    if accept:
        kwargs["headers"] = {"Accept": accept}
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    for attempt in retry_policy(retries, backoff_s, max_backoff_s=max_backoff_s, sleep=sleep):
        with attempt:
            counter.count += 1
            if pacer is not None:
                pacer.wait()
            return check_status(client.get(url, **kwargs))
    raise AssertionError("unreachable")  # pragma: no cover - tenacity either returns or re-raises
