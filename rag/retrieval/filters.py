"""Search filters resolved through the catalog (SQL over `papers`), cached per corpus_version.

`SearchFilters` selects papers; `allowed_rows` turns that into the index rows (chunks) a filtered search may
return. Dates are ISO `YYYY-MM-DD` strings (or `date` objects) compared with the paper's `published` date (v1),
both bounds inclusive. `categories` matches any of the paper's categories (cross-lists included), e.g. "cs.CL",
or a whole archive with a trailing ".*" / a bare archive name ("cs", "cs.*"). `arxiv_ids` accepts ids with or
without version ("2506.19850" = every indexed version, "2506.19850v2" = that one). `digest_date` keeps the papers
announced that day (falling back to published when the announcement date is unknown).

The cache key is (corpus_version, filters): paper metadata edited without a chunk change is picked up at the
next corpus_version bump.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import numpy as np

from indexes.bm25_index import ChunkIndex

_VERSION_RE = re.compile(r"^(.+?)v(\d+)$")


def _iso(d) -> str | None:
    if d is None or d == "":
        return None
    if isinstance(d, date):
        return d.isoformat()
    s = str(d).strip()
    date.fromisoformat(s[:10])  # validates, raises ValueError with a readable message
    return s[:10]


def _tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        v = [p for p in re.split(r"[,\s]+", v) if p]
    return tuple(sorted({str(x).strip() for x in v if str(x).strip()}))


@dataclass(frozen=True)
class SearchFilters:
    date_from: str | None = None
    date_to: str | None = None
    categories: tuple[str, ...] = ()
    arxiv_ids: tuple[str, ...] = ()
    digest_date: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "date_from", _iso(self.date_from))
        object.__setattr__(self, "date_to", _iso(self.date_to))
        object.__setattr__(self, "digest_date", _iso(self.digest_date))
        object.__setattr__(self, "categories", _tuple(self.categories))
        object.__setattr__(self, "arxiv_ids", _tuple(self.arxiv_ids))

    @property
    def empty(self) -> bool:
        return not (self.date_from or self.date_to or self.categories or self.arxiv_ids or self.digest_date)

    @classmethod
    def of(cls, filters: "SearchFilters | dict | None") -> "SearchFilters | None":
        if filters is None:
            return None
        f = filters if isinstance(filters, SearchFilters) else cls(**filters)
        return None if f.empty else f


def allowed_paper_keys(conn: sqlite3.Connection, f: SearchFilters) -> set[str]:
    """Keys of the papers that pass the filters (SQL on the catalog's papers table)."""
    where, args = [], []
    if f.date_from:
        where.append("substr(published, 1, 10) >= ?")
        args.append(f.date_from)
    if f.date_to:
        where.append("substr(published, 1, 10) <= ?")
        args.append(f.date_to)
    if f.digest_date:
        where.append("substr(COALESCE(NULLIF(announced, ''), published), 1, 10) = ?")
        args.append(f.digest_date)
    if f.arxiv_ids:
        ors = []
        for a in f.arxiv_ids:
            a = a.removeprefix("arXiv:").removeprefix("arxiv:")
            if _VERSION_RE.match(a) and not a.startswith("local:"):
                ors.append("key = ?")
            else:
                ors.append("(arxiv_id = ? OR key = ?)")
                args.append(a)
            args.append(a)
        where.append("(" + " OR ".join(ors) + ")")
    if f.categories:
        conds, cargs = [], []
        for c in f.categories:
            c = c.removesuffix(".*")
            if "." in c:
                conds.append("{col} = ?")
                cargs.append(c)
            else:  # a whole archive: "cs" matches cs.CL, cs.LG, ...
                conds.append("({col} = ? OR {col} LIKE ?)")
                cargs += [c, c + ".%"]
        any_cat = " OR ".join(conds)
        where.append(
            f"(EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(categories) THEN categories ELSE '[]' END) "
            f"WHERE {any_cat.format(col='value')}) OR {any_cat.format(col='primary_category')})")
        args += cargs + cargs
    sql = "SELECT key FROM papers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return {row[0] for row in conn.execute(sql, args)}


class FilterCache:
    """(corpus_version, filters) -> sorted int64 array of allowed rows; small LRU."""

    def __init__(self, size: int = 64):
        self.size = size
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    def allowed_rows(self, conn: sqlite3.Connection, index: ChunkIndex, f: SearchFilters) -> np.ndarray:
        key = (index.corpus_version, id(index), f)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        self.misses += 1
        keys = allowed_paper_keys(conn, f)
        prow = index.paper_row_of
        paper_mask = np.zeros(len(index.paper_keys), dtype=bool)
        for k in keys:
            j = prow.get(k)
            if j is not None:
                paper_mask[j] = True
        rows = np.flatnonzero(paper_mask[index.paper_idx])
        rows.setflags(write=False)
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return rows
