"""Polite HTTP fetching for the dataset layer.

One :class:`Fetcher` per run owns a ``requests`` session and the politeness state:

- a ``User-Agent`` naming the project and a contact (Wikimedia and many museums require one);
- robots.txt per host, fetched lazily through the same session and honoured unless
  ``respect_robots`` is false (RFC 9309: a missing robots.txt allows everything, one that cannot
  be fetched because of server or network errors disallows everything);
- a minimum delay between two requests to one host (raised to the host's ``Crawl-delay``);
- timeouts, and retries with exponential backoff on connection errors, 429 and 5xx answers,
  waiting as long as ``Retry-After`` asks (seconds or an HTTP date) but never more than
  ``max_wait``;
- a deadline per download (``deadline``, default :data:`DEADLINE_TIMEOUTS` times ``timeout``):
  ``timeout`` bounds each socket read, so a server that drips a byte at a time would otherwise
  hold a download for as long as it likes; redirects, retries and their waits count, the
  politeness delay before a request does not;
- redirects followed by hand, so that every hop is checked for its scheme (http/https only) and
  against robots.txt, up to ``max_redirects``;
- a byte limit enforced both on ``Content-Length`` and while streaming the body;
- optionally a memory of failed URLs (``known_failures``, see :class:`FailureMemory`): a URL it
  recalls is reported as failed without a request, and every failure is remembered.

Each page is asked for once per run (:meth:`Fetcher.get_once`), however many sources list it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Protocol
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
import urllib3

from nst.errors import DownloadError, SettingsError
from nst.version import __version__

PROJECT = "nst"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
IMAGE_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5"
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
DEADLINE_TIMEOUTS = 4  # the default http.deadline, in multiples of http.timeout
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpSettings:
    """How the fetcher talks to servers; every field maps onto a key of the config's ``http``."""

    user_agent: str | None = None
    contact: str | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0
    delay: float = 1.0
    max_bytes: int = 50 * 2**20
    max_redirects: int = 5
    max_pixels: int = 50_000_000
    max_wait: float = 60.0
    respect_robots: bool = True
    deadline: float | None = None

    @classmethod
    def from_dict(cls, values: dict | None) -> HttpSettings:
        """Build from the config's ``http`` mapping; unknown keys and bad values are errors."""
        values = dict(values or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise SettingsError(
                f"unknown http setting(s) {', '.join(unknown)}; valid ones are {', '.join(names)}."
            )
        for key, value in values.items():
            values[key] = _check_http_value(key, value)
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        """A short digest of every setting, to tell whether a remembered failure still holds."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def total_seconds(self) -> float:
        """The most seconds one download may take: ``deadline``, else a few ``timeout``s."""
        return self.deadline if self.deadline is not None else DEADLINE_TIMEOUTS * self.timeout

    @property
    def agent(self) -> str:
        if self.user_agent:
            return self.user_agent
        contact = self.contact or "no contact configured; set http.contact"
        return (
            f"{PROJECT}/{__version__} (neural style transfer dataset fetcher; {contact}) "
            f"python-requests/{requests.__version__}"
        )


_INT_SETTINGS = {"retries": 0, "max_bytes": 1, "max_redirects": 0, "max_pixels": 1}
_FLOAT_SETTINGS = {"timeout": 1e-9, "backoff": 0.0, "delay": 0.0, "max_wait": 0.0, "deadline": 1e-9}


def _check_http_value(key: str, value):
    if key == "deadline" and value is None:
        return None
    if key in _INT_SETTINGS:
        if isinstance(value, bool) or not isinstance(value, int) or value < _INT_SETTINGS[key]:
            raise SettingsError(
                f"http.{key} = {value!r} must be an integer of at least {_INT_SETTINGS[key]}."
            )
    elif key in _FLOAT_SETTINGS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SettingsError(f"http.{key} = {value!r} must be a non-negative number.")
        if value < _FLOAT_SETTINGS[key]:
            raise SettingsError(f"http.{key} must be greater than 0 seconds.")
        value = float(value)
    elif key == "respect_robots":
        if not isinstance(value, bool):
            raise SettingsError(f"http.respect_robots = {value!r} must be true or false.")
    elif value is not None and not isinstance(value, str):
        raise SettingsError(f"http.{key} = {value!r} must be a string.")
    return value


class FailureMemory(Protocol):
    """What a :class:`Fetcher` needs of a memory of failed URLs (an ImageCache)."""

    def recall(self, url: str) -> str | None:
        """Why ``url`` failed, if it is not to be requested now."""

    def remember(self, url: str, note: str) -> None: ...

    def forget(self, url: str) -> None: ...


@dataclass
class Fetched:
    """A successful (2xx) answer, with its body read in full."""

    url: str
    final_url: str
    status: int
    content_type: str
    content: bytes
    headers: dict = field(default_factory=dict)


@dataclass
class _Answer:
    status: int
    reason: str
    headers: dict
    content: bytes = b""
    location: str | None = None


def check_scheme(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise DownloadError(f"{url!r} is not a valid URL; fix it in the config.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise DownloadError(
            f"{url!r} is not an http(s) URL; only http:// and https:// sources can be downloaded."
        )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class _Deadline:
    """The time left to one download; :meth:`extend` takes out a wait that does not count."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def extend(self, seconds: float) -> None:
        self.end += seconds

    def error(self, url: str, what: str) -> DownloadError:
        return DownloadError(
            f"{url} took longer than the http.deadline of {self.seconds:g} s ({what}); try again "
            "later or raise http.deadline."
        )


def _describe(exc: Exception, timeout: float) -> str:
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)
    if isinstance(exc, timeouts) or "timed out" in str(exc).lower():
        return f"no answer within the {timeout:g} s timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return "the connection broke off in the middle of the answer"
    decoding = (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError)
    if isinstance(exc, decoding):
        return "the answer's compression is corrupt"
    text = str(exc)
    for marker in ("Name or service not known", "Connection refused", "Connection reset"):
        if marker in text:
            return marker.lower()
    return "the connection failed"


class Fetcher:
    """A polite HTTP client for one run; ``requests_made`` counts every request sent."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        log: Callable[[str], object] = print,
        sleep: Callable[[float], object] = time.sleep,
        known_failures: FailureMemory | None = None,
    ):
        self.settings = settings or HttpSettings()
        self.log = log
        self.sleep = sleep
        self.known_failures = known_failures
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.settings.agent
        self.requests_made = 0
        self._last_request: dict[str, float] = {}
        self._crawl_delay: dict[str, float] = {}
        self._robots: dict[str, tuple[RobotFileParser, str]] = {}
        self._pages: dict[str, Fetched | DownloadError] = {}
        self._warned_contact = False

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, *, accept: str = "*/*") -> Fetched:
        """GET ``url``, following redirects, within the deadline; raise :class:`DownloadError`
        unless it answers 2xx (or when ``known_failures`` recalls that it failed)."""
        memory = self.known_failures
        if memory is None:
            return self._get(url, accept)
        note = memory.recall(url)
        if note is not None:
            raise DownloadError(note)
        try:
            fetched = self._get(url, accept)
        except DownloadError as exc:
            memory.remember(url, str(exc))
            raise
        memory.forget(url)
        return fetched

    def get_once(self, url: str, *, accept: str = HTML_ACCEPT) -> Fetched:
        """:meth:`get`, but each URL once per fetcher (one run): a page several sources list."""
        if url not in self._pages:
            try:
                self._pages[url] = self.get(url, accept=accept)
            except DownloadError as exc:
                self._pages[url] = exc
        answer = self._pages[url]
        if isinstance(answer, DownloadError):
            raise DownloadError(str(answer))
        return answer

    def _get(self, url: str, accept: str) -> Fetched:
        answer, final_url = self._follow(url, accept, check_robots=self.settings.respect_robots)
        if answer.location is not None:
            raise DownloadError(
                f"{url} redirected more than {self.settings.max_redirects} times; "
                "use the final URL or raise http.max_redirects."
            )
        if answer.status >= 300:
            hop = "" if final_url == url else f" (redirected to {final_url})"
            raise DownloadError(
                f"{url}{hop} answered HTTP {answer.status} {answer.reason}".rstrip()
                + "; check that the URL is right and still online."
            )
        return Fetched(
            url=url,
            final_url=final_url,
            status=answer.status,
            content_type=answer.headers.get("content-type", ""),
            content=answer.content,
            headers=answer.headers,
        )

    def _follow(self, url: str, accept: str, *, check_robots: bool) -> tuple[_Answer, str]:
        deadline = _Deadline(self.settings.total_seconds)
        current = url
        answer = None
        for _ in range(self.settings.max_redirects + 1):
            check_scheme(current)
            if check_robots:
                started = time.monotonic()
                self._check_robots(current)  # a download of its own, with its own deadline
                deadline.extend(time.monotonic() - started)
            answer = self._request(current, accept, deadline, url)
            if answer.location is None:
                return answer, current
            current = urljoin(current, answer.location)
        return answer, current

    def _wait_for_host(self, url: str, deadline: _Deadline) -> None:
        host = _origin(url)
        last = self._last_request.get(host)
        if last is None:
            return
        delay = max(self.settings.delay, self._crawl_delay.get(host, 0.0))
        remaining = last + delay - time.monotonic()
        if remaining > 0:
            self.sleep(remaining)
            deadline.extend(remaining)

    def _request(self, url: str, accept: str, deadline: _Deadline, asked: str) -> _Answer:
        """One GET with retries; redirects and non-retryable errors are returned, not raised.

        ``asked`` is the URL the download started from, named when the deadline ends it."""
        s = self.settings
        if not s.contact and not s.user_agent and not self._warned_contact:
            self._warned_contact = True
            self.log(
                "dataset: note: http.contact is not set; some sites (Wikimedia) refuse "
                "requests whose User-Agent names no contact."
            )
        attempts = s.retries + 1
        problem = ""
        for attempt in range(attempts):
            wait = None
            self._wait_for_host(url, deadline)
            if deadline.left() <= 0:
                raise deadline.error(asked, problem or "no answer yet")
            self.requests_made += 1
            try:
                with self.session.get(
                    url,
                    headers={"Accept": accept},
                    stream=True,
                    timeout=min(s.timeout, deadline.left()),
                    allow_redirects=False,
                ) as response:
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        problem = f"HTTP {status} {response.reason or ''}".rstrip()
                        wait = retry_after_seconds(headers.get("retry-after"))
                    elif status in REDIRECT_STATUSES and headers.get("location"):
                        return _Answer(
                            status, response.reason, headers, location=headers["location"]
                        )
                    elif status >= 300:
                        return _Answer(status, response.reason or "", headers)
                    else:
                        body = self._read_body(response, url, deadline, asked)
                        return _Answer(status, response.reason or "", headers, body)
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                urllib3.exceptions.HTTPError,
            ) as exc:
                problem = _describe(exc, s.timeout)
                if deadline.left() <= 0:
                    raise deadline.error(asked, problem) from None
            except requests.exceptions.RequestException as exc:
                raise DownloadError(
                    f"cannot request {url}: {exc}; check that the URL is well formed."
                ) from None
            finally:
                self._last_request[_origin(url)] = time.monotonic()
            if attempt == attempts - 1:
                break
            pause = s.backoff * 2**attempt if wait is None else wait
            pause = min(pause, s.max_wait)
            if pause >= deadline.left():
                raise deadline.error(asked, f"{problem}, and no time left to retry")
            self.log(
                f"dataset:   {problem} from {url}; retry {attempt + 1}/{s.retries} in {pause:.2f} s"
            )
            if pause > 0:
                self.sleep(pause)
        raise DownloadError(
            f"{url} failed after {attempts} attempt(s): {problem}; "
            "try again later or raise http.retries / http.timeout."
        )

    def _read_body(
        self, response: requests.Response, url: str, deadline: _Deadline, asked: str
    ) -> bytes:
        """The body, read as it arrives (never waiting for a full chunk) until the deadline."""
        limit = self.settings.max_bytes
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise DownloadError(
                f"{url} is {int(length)} bytes, more than http.max_bytes = {limit}; "
                "raise the limit or choose a smaller image."
            )
        raw = response.raw
        read1 = getattr(raw, "read1", None)  # what has arrived; older urllib3 lacks it
        chunks = []
        total = 0
        while True:
            left = deadline.left()
            if left <= 0:
                raise deadline.error(asked, f"{total} bytes received")
            _set_read_timeout(raw, min(self.settings.timeout, left))
            if read1 is not None:
                chunk = read1(CHUNK_BYTES, decode_content=True)
            else:
                chunk = raw.read(4096, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise DownloadError(
                    f"{url} sent more than http.max_bytes = {limit} bytes; "
                    "raise the limit or choose a smaller image."
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_robots(self, url: str) -> None:
        origin = _origin(url)
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin)
        parser, unavailable = self._robots[origin]
        if unavailable:
            raise DownloadError(
                f"robots.txt of {origin} could not be fetched ({unavailable}), which disallows "
                "the whole site (RFC 9309); try again later, or set http.respect_robots: false."
            )
        if not parser.can_fetch(self.settings.agent, url):
            raise DownloadError(
                f"robots.txt of {origin} disallows {url}; leave it out, or set "
                "http.respect_robots: false if you have the site's permission."
            )

    def _load_robots(self, origin: str) -> tuple[RobotFileParser, str]:
        """The parsed robots.txt of ``origin`` and, if it could not be fetched, the reason."""
        robots_url = origin + "/robots.txt"
        parser = RobotFileParser(robots_url)
        try:
            answer, _ = self._follow(robots_url, "text/plain", check_robots=False)
        except DownloadError as exc:
            parser.disallow_all = True
            return parser, str(exc).split("; ")[0]
        if answer.location is not None or 400 <= answer.status < 500:
            parser.allow_all = True
        elif answer.status >= 300:
            parser.disallow_all = True
            return parser, f"HTTP {answer.status}"
        else:
            parser.parse(answer.content.decode("utf-8", errors="replace").splitlines())
            delay = parser.crawl_delay(self.settings.agent)
            if delay:
                self._crawl_delay[origin] = min(float(delay), self.settings.max_wait)
        return parser, ""


def _set_read_timeout(raw: urllib3.response.HTTPResponse, seconds: float) -> None:
    """Bound the next socket read of a streamed body (the connection is gone once it is read)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 1e-3))
