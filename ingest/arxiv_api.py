"""The arXiv API (export.arxiv.org/api/query): metadata by id list, and date-bounded searches.

How the `arxiv` library (4.0.2, pinned) is used: `arxiv.Search` + its sort enums describe the query and
produce the request parameters (so our URLs are the ones arxiv.py sends), and arxiv's own lxml Atom
parser (`arxiv._feed.parse`) turns a response page into `arxiv.Result`s, which we map to `PaperMeta`.
Its `Client` is not used for transport: it has a fixed endpoint, no request timeout, retries without
backoff, ignores Retry-After and paces on the wall clock. Transport is ours (`ingest.http`): httpx,
monotonic-clock pacer (>= delay_s between requests of one `ArxivApi`), tenacity retries with exponential
backoff on 429/5xx/timeouts, configurable base URL (tests point it at 127.0.0.1).

arXiv answers a malformed id with HTTP 400 and an Atom feed whose single entry is the error
("incorrect id format for abc"); an unknown but well-formed id just yields no entry.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

import arxiv
import httpx
from lxml import etree

from ingest.arxiv_ids import format_id, parse_arxiv_id
from ingest.http import (
    ACCEPT_API,
    DEFAULT_USER_AGENT,
    MAX_BACKOFF_S,
    Pacer,
    check_status,
    describe_error,
    is_retryable,
    make_client,
    retry_policy,
)
from ingest.text_clean import clean_abstract, collapse_ws, extract_code_links, fix_text
from paperrag.errors import PaperragError
from paperrag.records import PaperMeta

try:  # arxiv.py's own Atom parser; a private module of the pinned version, guarded by the replay tests
    from arxiv import _feed as _arxiv_feed
except ImportError:  # pragma: no cover
    _arxiv_feed = None

if TYPE_CHECKING:
    from paperrag.settings import FetchSettings

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_PDF_URL = "https://arxiv.org/pdf/{id}"
_NS = {"atom": "http://www.w3.org/2005/Atom", "opensearch": "http://a9.com/-/spec/opensearch/1.1/"}


class ArxivApiError(PaperragError):
    """A request the API could not answer (after retries) or rejected; the message says why."""

    def __init__(self, message: str, *, status: int | None = None, api_message: str = ""):
        super().__init__(message)
        self.status = status
        self.api_message = api_message


class _MalformedResponse(Exception):
    """200 with a body that is no well-formed Atom (truncated, HTML): worth a retry."""


class _UnexpectedEmptyPage(Exception):
    """A page past the first came back empty although totalResults says there is more: arXiv flakiness."""


def _retryable(exc: BaseException) -> bool:
    return is_retryable(exc) or isinstance(exc, (_MalformedResponse, _UnexpectedEmptyPage))


class _Page:
    def __init__(self, results: list[arxiv.Result], total: int, error: str = ""):
        self.results = results
        self.total = total
        self.error = error  # the API's error entry (<summary>), if the feed is an error feed


def _api_error_message(root) -> str:
    """The <summary> of arXiv's error entry ('incorrect id format for abc'), or ''."""
    for entry in root.iterfind("atom:entry", _NS):
        entry_id = entry.findtext("atom:id", default="", namespaces=_NS)
        if "/api/errors" in entry_id:
            return collapse_ws(entry.findtext("atom:summary", default="", namespaces=_NS)) or entry_id
    return ""


def _to_yyyymmdd(value: str | date | datetime | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise ValueError(f"{what} must be a date, 'YYYY-MM-DD' or 'YYYYMMDD', got {value!r}")


def build_query(query: str, date_from=None, date_to=None) -> str:
    """'vla' + 2025-01-01..2025-01-31 -> 'vla AND submittedDate:[202501010000 TO 202501312359]'."""
    q = (query or "").strip()
    start = _to_yyyymmdd(date_from, "date_from")
    end = _to_yyyymmdd(date_to, "date_to")
    if start is None and end is None:
        if not q:
            raise ValueError("empty query: give search terms and/or a date range")
        return q
    start = start or "19910101"
    end = end or date.today().strftime("%Y%m%d")
    if start > end:
        raise ValueError(f"date_from {start} is after date_to {end}")
    clause = f"submittedDate:[{start}0000 TO {end}2359]"
    if not q:
        return clause
    if re.search(r"\s", q) and not (q.startswith("(") and q.endswith(")")):
        q = f"({q})"
    return f"{q} AND {clause}"


class ArxivApi:
    """Client of the arXiv API. One instance = one pacer: keep one per process and reuse it."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        delay_s: float = 3.0,
        retries: int = 5,
        backoff_s: float = 3.0,
        timeout_s: float = 30.0,
        batch_size: int = 100,
        user_agent: str = DEFAULT_USER_AGENT,
        *,
        pdf_url_template: str = DEFAULT_PDF_URL,
        max_backoff_s: float = MAX_BACKOFF_S,
        client: httpx.Client | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.api_url = api_url
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.pdf_url_template = pdf_url_template
        self.sleep = sleep
        self.pacer = pacer or Pacer(delay_s, sleep=sleep)
        self._own_client = client is None
        self.client = client or make_client(user_agent, timeout_s, accept=ACCEPT_API)
        self.requests_made = 0  # HTTP requests sent, retries included
        self.last_attempts = 0  # attempts of the latest page request

    @classmethod
    def from_settings(cls, fetch: FetchSettings, **kwargs) -> ArxivApi:
        return cls(
            fetch.api_url,
            fetch.delay_s,
            fetch.retries,
            fetch.backoff_s,
            fetch.timeout_s,
            fetch.batch_size,
            fetch.user_agent,
            pdf_url_template=kwargs.pop("pdf_url_template", fetch.pdf_url),
            **kwargs,
        )

    # ------------------------------------------------------------------------------------ transport
    @staticmethod
    def _params(search: arxiv.Search, start: int, max_results: int) -> dict[str, str]:
        try:
            params = dict(search._url_args())  # arxiv.py's own parameter set and order
        except AttributeError:  # pragma: no cover - a future arxiv without the helper
            params = {
                "search_query": search.query,
                "id_list": ",".join(search.id_list),
                "sortBy": search.sort_by.value,
                "sortOrder": search.sort_order.value,
            }
        params.update({"start": str(start), "max_results": str(max_results)})
        return params

    def _get_page(self, params: dict[str, str], *, first_page: bool = True) -> _Page:
        """One paced, retried request; a 4xx error feed comes back as `_Page(error=...)`."""

        self.last_attempts = 0

        def attempt_once() -> _Page:
            self.pacer.wait()
            self.requests_made += 1
            self.last_attempts += 1
            response = check_status(self.client.get(self.api_url, params=params, timeout=self.timeout_s,
                                                         headers={"Accept": ACCEPT_API}))
            try:
                root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
            except etree.XMLSyntaxError as err:
                if response.status_code == 200:
                    raise _MalformedResponse(f"malformed Atom from the arXiv API: {err}") from err
                root = None
            if response.status_code != 200:
                message = _api_error_message(root) if root is not None else ""
                if not message:
                    message = collapse_ws(re.sub(r"<[^>]+>", " ", response.text[:400]))[:160]
                return _Page([], 0, message or f"HTTP {response.status_code} {response.reason_phrase}")
            if root.tag != "{http://www.w3.org/2005/Atom}feed":
                tag = etree.QName(root).localname
                raise _MalformedResponse(f"the arXiv API answered with <{tag}>, not an Atom feed")
            error = _api_error_message(root)
            if error:
                return _Page([], 0, error)
            feed = _arxiv_feed.parse(response.content)
            page = _Page(list(feed.results), feed.header.total_results)
            if not page.results and not first_page and int(params.get("start", 0)) < page.total:
                raise _UnexpectedEmptyPage(f"empty page at start={params.get('start')} of {page.total}")
            return page

        policy = retry_policy(
            self.retries, self.backoff_s, max_backoff_s=self.max_backoff_s, sleep=self.sleep, retry_on=_retryable
        )
        return policy(attempt_once)

    # ------------------------------------------------------------------------------------ mapping
    def to_meta(self, result: arxiv.Result) -> PaperMeta:
        arxiv_id, version = parse_arxiv_id(result.entry_id)
        version = version or 1
        abstract = clean_abstract(result.summary or "")
        comment = collapse_ws(result.comment or "")
        alternate = next((link.href for link in result.links if link.rel == "alternate"), "")
        return PaperMeta(
            arxiv_id=arxiv_id,
            version=version,
            title=collapse_ws(fix_text(result.title or "")),
            authors=[collapse_ws(a.name) for a in result.authors if a.name],
            abstract=abstract,
            categories=list(result.categories),
            primary_category=result.primary_category or (result.categories[0] if result.categories else ""),
            published=result.published.date().isoformat() if result.published != datetime.min else "",
            updated=result.updated.date().isoformat() if result.updated != datetime.min else "",
            pdf_url=self.pdf_url_template.format(id=format_id(arxiv_id, version)),
            abs_url=alternate or f"https://arxiv.org/abs/{format_id(arxiv_id, version)}",
            code_links=extract_code_links(f"{abstract} {comment}"),
            doi=(result.doi or "").strip(),
            comment=comment,
            source="api",
        )

    # ------------------------------------------------------------------------------------ by ids
    def by_ids(self, ids: Iterable[str], *, validate: bool = True) -> tuple[list[PaperMeta], dict[str, str]]:
        """Metadata for `ids` (any spelling arxiv_ids accepts), in input order, plus {input: reason} for
        every id that is malformed, unknown to arXiv or could not be fetched.

        An id with a version gets that version; without, the latest. `validate=False` sends ids that our
        parser rejects to arXiv anyway (arXiv's own verdict then gives the reason).
        """
        found: dict[str, PaperMeta] = {}
        failed: dict[str, str] = {}
        wanted: list[tuple[str, str, int | None]] = []  # (input, id, version)
        for raw in dict.fromkeys(i.strip() for i in ids if i and i.strip()):
            try:
                arxiv_id, version = parse_arxiv_id(raw)
            except ValueError as err:
                if validate:
                    failed[raw] = f"malformed arXiv id: {err}"
                    continue
                arxiv_id, version = raw, None
            wanted.append((raw, arxiv_id, version))

        for i in range(0, len(wanted), self.batch_size):
            self._fetch_batch(wanted[i : i + self.batch_size], found, failed)

        order = {raw: n for n, (raw, _, _) in enumerate(wanted)}
        metas = [found[raw] for raw in sorted(found, key=order.__getitem__)]
        return metas, failed

    def _fetch_batch(self, batch, found: dict[str, PaperMeta], failed: dict[str, str]) -> None:
        while batch:
            search = arxiv.Search(id_list=[format_id(a, v) for _, a, v in batch])
            try:
                page = self._get_page(self._params(search, 0, self.batch_size))
            except Exception as err:  # noqa: BLE001 - every id of the batch gets the reason
                reason = f"arXiv API request failed: {describe_error(err, self.last_attempts)}"
                for raw, _, _ in batch:
                    failed[raw] = reason
                return
            if page.error:
                culprits = [b for b in batch if _names_id(page.error, b)]
                if culprits:
                    for raw, _, _ in culprits:
                        failed[raw] = f"arXiv rejected the id: {page.error}"
                    batch = [b for b in batch if b not in culprits]
                    continue  # ask again for the others
                for raw, _, _ in batch:
                    failed[raw] = f"arXiv API error: {page.error}"
                return
            got: dict[str, list[PaperMeta]] = {}
            for result in page.results:
                try:
                    meta = self.to_meta(result)
                except ValueError as err:
                    log.warning("skipping API entry %s: %s", result.entry_id, err)
                    continue
                got.setdefault(meta.arxiv_id, []).append(meta)
            for raw, arxiv_id, version in batch:
                candidates = got.get(arxiv_id, [])
                if version is not None:
                    candidates = [m for m in candidates if m.version == version]
                if candidates:
                    found[raw] = max(candidates, key=lambda m: m.version)
                else:
                    shown = format_id(arxiv_id, version)
                    failed[raw] = f"not found on arXiv (the API returned no entry for {shown})"
            return

    # ------------------------------------------------------------------------------------ search
    def search(
        self,
        query: str,
        *,
        date_from: str | date | None = None,
        date_to: str | date | None = None,
        max_results: int | None = 100,
        sort_by: str = "relevance",
        sort_order: str = "descending",
    ) -> list[PaperMeta]:
        """Papers matching `query` (arXiv query syntax, e.g. 'ti:"vision language action" AND cat:cs.RO'),
        submitted between date_from and date_to (inclusive, whole days, GMT), paging `batch_size` at a time.

        Raises ArxivApiError when arXiv rejects the query or a page cannot be fetched.
        """
        search = arxiv.Search(
            query=build_query(query, date_from, date_to),
            max_results=max_results,
            sort_by=arxiv.SortCriterion(sort_by),
            sort_order=arxiv.SortOrder(sort_order),
        )
        limit = max_results if max_results is not None else float("inf")
        out: list[PaperMeta] = []
        seen: set[str] = set()
        start = 0
        while len(out) < limit:
            params = self._params(search, start, self.batch_size)
            try:
                page = self._get_page(params, first_page=start == 0)
            except _UnexpectedEmptyPage as err:
                log.warning("arXiv kept returning an empty page (%s); stopping with %d results", err, len(out))
                break
            except Exception as err:  # noqa: BLE001
                raise ArxivApiError(
                    f"arXiv API search failed at start={start}: {describe_error(err, self.last_attempts)}"
                ) from err
            if page.error:
                raise ArxivApiError(
                    f"arXiv API rejected the query {search.query!r}: {page.error}", api_message=page.error
                )
            if not page.results:
                break
            for result in page.results:
                try:
                    meta = self.to_meta(result)
                except ValueError as err:
                    log.warning("skipping API entry %s: %s", result.entry_id, err)
                    continue
                if meta.key not in seen and len(out) < limit:
                    seen.add(meta.key)
                    out.append(meta)
            start += len(page.results)
            if start >= page.total:
                break
        return out

    # ------------------------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> ArxivApi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _names_id(message: str, item: tuple[str, str, int | None]) -> bool:
    """Does arXiv's error message ('incorrect id format for abc') name this id?"""
    raw, arxiv_id, version = item
    tokens = set(re.split(r"[\s,;]+", message.strip().rstrip(".")))
    return bool(tokens & {raw, arxiv_id, format_id(arxiv_id, version)})
