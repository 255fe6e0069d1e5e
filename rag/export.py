"""The library out: BibTeX, RIS and CSL-JSON of papers (`paperrag export`, `Library.export`).

arXiv BibTeX as arXiv itself writes it (`@misc`, eprint without version, archivePrefix = {arXiv}, primaryClass),
plus the version in `note` (arXiv:ID vN) and the versioned abs URL, and the DOI when the paper has one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence

from paperrag.records import PaperMeta

FORMATS = ("bibtex", "ris", "csljson")
_TEX_SPECIAL = re.compile(r"([&%$#_])")


def _is_arxiv(m: PaperMeta) -> bool:
    return bool(m.arxiv_id) and not m.arxiv_id.startswith("local:")


def _split_name(name: str) -> tuple[str, str]:
    """(family, given) of "Given Family" (or "Family, Given")."""
    name = " ".join(name.split())
    if "," in name:
        fam, _, given = name.partition(",")
        return fam.strip(), given.strip()
    parts = name.split(" ")
    return parts[-1], " ".join(parts[:-1])


def _ascii(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower())


_STOP = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "is", "are", "towards", "via"}


def cite_key(m: PaperMeta, used: set[str]) -> str:
    """family name of the first author + year + first word of the title: vaswani2017attention."""
    fam = _ascii(_split_name(m.authors[0])[0]) if m.authors else ""
    year = (m.published or m.updated or "")[:4]
    word = next((w for w in (_ascii(x) for x in m.title.split()) if w and w not in _STOP), "")
    base = (fam + year + word) or re.sub(r"[^A-Za-z0-9]", "", m.key) or "paper"
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}{chr(ord('a') + n - 2)}" if n <= 27 else f"{base}{n}"
    used.add(key)
    return key


def _tex(text: str) -> str:
    text = " ".join((text or "").split())
    text = text.replace("\\", r"\textbackslash{}")
    text = _TEX_SPECIAL.sub(r"\\\1", text)
    return text.replace("{", r"\{").replace("}", r"\}").replace(r"\textbackslash\{\}", r"\textbackslash{}")


def to_bibtex(metas: Sequence[PaperMeta]) -> str:
    used: set[str] = set()
    out = []
    for m in metas:
        fields: list[tuple[str, str]] = [("title", _tex(m.title)), ("author", " and ".join(_tex(a) for a in m.authors))]
        if m.published:
            fields.append(("year", m.published[:4]))
            fields.append(("month", str(int(m.published[5:7]))) if len(m.published) >= 7 else ("month", ""))
        if _is_arxiv(m):
            fields += [("eprint", m.arxiv_id), ("archivePrefix", "arXiv")]
            if m.primary_category or m.categories:
                fields.append(("primaryClass", m.primary_category or m.categories[0]))
            fields += [("note", f"arXiv:{m.key}"), ("url", f"https://arxiv.org/abs/{m.key}")]
        elif m.local_path:
            fields.append(("note", f"local PDF {_tex(m.local_path)}"))
        if m.doi:
            fields.append(("doi", m.doi))
        if m.abstract:
            fields.append(("abstract", _tex(m.abstract)))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
        out.append(f"@misc{{{cite_key(m, used)},\n{body}\n}}\n")
    return "\n".join(out)


def to_ris(metas: Sequence[PaperMeta]) -> str:
    out = []
    for m in metas:
        lines = ["TY  - UNPB" if _is_arxiv(m) else "TY  - GEN", f"TI  - {' '.join(m.title.split())}"]
        lines += [f"AU  - {fam}, {given}".rstrip(", ") for fam, given in map(_split_name, m.authors)]
        if m.published:
            lines += [f"PY  - {m.published[:4]}", f"DA  - {m.published.replace('-', '/')}"]
        if m.abstract:
            lines.append(f"AB  - {' '.join(m.abstract.split())}")
        if _is_arxiv(m):
            lines += ["PB  - arXiv", f"AN  - arXiv:{m.key}", f"UR  - https://arxiv.org/abs/{m.key}",
                      f"L1  - https://arxiv.org/pdf/{m.key}"]
        lines += [f"KW  - {c}" for c in m.categories]
        if m.doi:
            lines.append(f"DO  - {m.doi}")
        lines.append("ER  - ")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def to_csljson(metas: Sequence[PaperMeta]) -> str:
    used: set[str] = set()
    items = []
    for m in metas:
        item: dict = {"id": cite_key(m, used), "type": "article", "title": " ".join(m.title.split()),
                      "author": [{"family": f, "given": g} if g else {"literal": f} for f, g in map(_split_name, m.authors)]}
        if m.published:
            item["issued"] = {"date-parts": [[int(x) for x in m.published.split("-")[:3] if x.isdigit()]]}
        if m.abstract:
            item["abstract"] = " ".join(m.abstract.split())
        if _is_arxiv(m):
            item.update({"publisher": "arXiv", "genre": "preprint", "number": f"arXiv:{m.key}",
                         "URL": f"https://arxiv.org/abs/{m.key}"})
        if m.categories:
            item["keyword"] = ", ".join(m.categories)
        if m.doi:
            item["DOI"] = m.doi
        items.append(item)
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def export(metas: Sequence[PaperMeta], fmt: str) -> str:
    return {"bibtex": to_bibtex, "ris": to_ris, "csljson": to_csljson}[fmt](metas)
