"""Seeds in: a reading list from a BibTeX / RIS / Zotero CSL-JSON or RDF export, PDFs (a folder or files) or arXiv
ids.

`read_seeds(inputs)` → (SeedInput list, problems). A malformed entry is skipped with one line naming the file,
the entry and why; the rest of the file is imported. Matching seeds to catalog papers (arXiv id, DOI, title)
is the Library's job (`Library.seeds_add`), since it needs the catalog.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.arxiv_ids import parse_arxiv_id

ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)
_ARXIV_IN_TEXT = re.compile(r"arxiv(?:\.org/(?:abs|pdf)/|:\s*|\s+)([a-z\-]+(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})(v\d+)?",
                            re.I)


@dataclass
class SeedInput:
    """One seed as read from its source, before matching: any of id / DOI / title, and its text if known."""

    source: str  # "refs.bib", "papers/x.pdf", "arXiv id"
    entry: str = ""  # the entry's key or position in its file
    arxiv_id: str = ""
    doi: str = ""
    title: str = ""
    abstract: str = ""


def norm_title(title: str) -> str:
    """Lowercase words only: what two spellings of one title share (braces, accents markup, punctuation dropped)."""
    t = re.sub(r"\\[a-zA-Z]+|[{}$\\]", " ", title or "").lower()
    return " ".join(re.findall(r"[a-z0-9]+", t))


def norm_doi(doi: str) -> str:
    d = (doi or "").strip()
    d = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", d, flags=re.I)
    return d.lower()


def arxiv_from(*texts: str) -> str:
    """The arXiv id (without version) in a DOI 10.48550/arXiv.X, an eprint field, a URL or a note; "" if none."""
    for text in texts:
        text = (text or "").strip()
        if not text:
            continue
        m = ARXIV_DOI.match(norm_doi(text))
        if m:
            text = m.group(1)
        try:
            return parse_arxiv_id(text)[0]
        except ValueError:
            pass
        m = _ARXIV_IN_TEXT.search(text)
        if m:
            try:
                return parse_arxiv_id(m.group(1))[0]
            except ValueError:
                pass
    return ""


def _usable(seed: SeedInput) -> str:
    """'' when the seed has something to match or embed, else why not."""
    if seed.arxiv_id or seed.doi or seed.title.strip():
        return ""
    return "no title, arXiv id or DOI"


def _clean(text: str) -> str:
    t = re.sub(r"[{}]", "", text or "")
    return " ".join(t.split())


# ------------------------------------------------------------------------------------------ BibTeX
def read_bibtex(path: Path) -> tuple[list[SeedInput], list[str]]:
    import bibtexparser

    splitter_log = logging.getLogger("bibtexparser.splitter")
    level = splitter_log.level
    splitter_log.setLevel(logging.ERROR)  # a failed block is one skip line below; its warning would say it twice
    try:
        lib = bibtexparser.parse_string(path.read_text(encoding="utf-8", errors="replace"))
    finally:
        splitter_log.setLevel(level)
    seeds, problems = [], []
    for block in lib.failed_blocks:
        head = (getattr(block, "raw", "") or "").strip().splitlines()[:1]
        name = head[0][:60] if head else "?"
        err = getattr(block, "error", None)
        why = " ".join(str(getattr(err, "abort_reason", "") or err or "not valid BibTeX").split()).rstrip(". ")
        if type(block).__name__ == "DuplicateBlockKeyBlock":
            why = "duplicate entry key"
        problems.append(f"{path.name}: entry {name!r} (line {block.start_line + 1}) skipped: {why}")
    for entry in lib.entries:
        f = {k.lower(): _clean(str(v)) for k, v in entry.fields_dict.items() for v in [v.value]}
        archive = f.get("archiveprefix", "") or f.get("eprinttype", "")
        eprint = f.get("eprint", "") if (not archive or archive.lower() == "arxiv") else ""
        seed = SeedInput(str(path.name), entry.key, arxiv_from(eprint, f.get("doi", ""), f.get("url", ""),
                                                                f.get("journal", ""), f.get("note", "")),
                         norm_doi(f.get("doi", "")), f.get("title", ""), f.get("abstract", ""))
        _keep(seed, f"{path.name}: entry {entry.key!r} (line {entry.start_line + 1})", seeds, problems)
    return seeds, problems


# ------------------------------------------------------------------------------------------ RIS
_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -( (.*))?$")


def read_ris(path: Path) -> tuple[list[SeedInput], list[str]]:
    """RIS by hand: `TY  -` opens a record, `ER  -` closes it; a record not closed, or with no title / id /
    DOI, is skipped with a line."""
    seeds, problems = [], []
    record: dict[str, list[str]] | None = None
    start = 0
    n = 0

    def close(rec: dict[str, list[str]], line_no: int) -> None:
        nonlocal n
        n += 1
        get = lambda *tags: next((v for t in tags for v in rec.get(t, []) if v.strip()), "")  # noqa: E731
        urls = rec.get("UR", []) + rec.get("L1", []) + rec.get("L2", [])
        doi = get("DO")
        seed = SeedInput(path.name, f"#{n}", arxiv_from(doi, get("AN"), get("M1"), *urls, get("N1")), norm_doi(doi),
                         _clean(get("TI", "T1", "CT", "BT")), _clean(get("AB", "N2")))
        why = _usable(seed)
        if why:
            problems.append(f"{path.name}: record #{n} (line {line_no}) skipped: {why}")
        else:
            seeds.append(seed)

    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    last_tag = ""
    for i, raw in enumerate(lines, 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        m = _RIS_LINE.match(line)
        if not m:
            if record is not None and last_tag:  # a continuation line of a long field
                record[last_tag][-1] += " " + line.strip()
                continue
            problems.append(f"{path.name}: line {i} skipped: not a RIS 'TAG  - value' line: {line[:40]!r}")
            continue
        tag, value = m.group(1), (m.group(3) or "").strip()
        if tag == "TY":
            if record is not None:
                n += 1
                problems.append(f"{path.name}: record #{n} (line {start}) skipped: no 'ER  -' before the next 'TY  -'")
            record, start, last_tag = {}, i, ""
            continue
        if record is None:
            problems.append(f"{path.name}: line {i} skipped: {tag} outside a record (no 'TY  -' before it)")
            continue
        if tag == "ER":
            close(record, start)
            record, last_tag = None, ""
            continue
        record.setdefault(tag, []).append(value)
        last_tag = tag
    if record is not None:
        n += 1
        problems.append(f"{path.name}: record #{n} (line {start}) skipped: the file ends before its 'ER  -'")
    return seeds, problems


# ------------------------------------------------------------------------------------------ CSL-JSON
def read_csljson(path: Path) -> tuple[list[SeedInput], list[str]]:
    """A Zotero "Export → CSL JSON" file: a list of items (title, abstract, DOI, URL, number "arXiv:…")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        return [], [f"{path.name}: not JSON ({exc}); nothing imported"]
    if isinstance(data, dict):
        data = data.get("items", [data])
    if not isinstance(data, list):
        return [], [f"{path.name}: expected a list of CSL-JSON items; nothing imported"]
    seeds, problems = [], []
    for i, item in enumerate(data, 1):
        name = f"#{i}"
        if not isinstance(item, dict):
            problems.append(f"{path.name}: item {name} skipped: not an object ({type(item).__name__})")
            continue
        name = f"#{i} ({item.get('id')})" if item.get("id") is not None else name
        fields = {k: item.get(k) for k in ("title", "abstract", "DOI", "URL", "number", "note", "archive_location")}
        bad = [k for k, v in fields.items() if v is not None and not isinstance(v, (str, int, float))]
        if bad:
            problems.append(f"{path.name}: item {name} skipped: field {bad[0]!r} is not text")
            continue
        f = {k: str(v or "") for k, v in fields.items()}
        seed = SeedInput(path.name, name, arxiv_from(f["DOI"], f["number"], f["URL"], f["archive_location"], f["note"]),
                         norm_doi(f["DOI"]), _clean(f["title"]), _clean(f["abstract"]))
        _keep(seed, f"{path.name}: item {name}", seeds, problems)
    return seeds, problems


# ------------------------------------------------------------------------------------------ Zotero RDF
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_Z = "{http://www.zotero.org/namespaces/export#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_NOT_PAPERS = {"attachment", "note"}


def _texts(el, tag: str) -> list[str]:
    """The text of every `tag` child of `el`, and of what is nested in it (a dc:identifier holding a dcterms:URI)."""
    return [" ".join("".join(child.itertext()).split()) for child in el.findall(tag)]


def read_zotero_rdf(path: Path) -> tuple[list[SeedInput], list[str]]:
    """A Zotero "Export → Zotero RDF" file: each top-level item with a z:itemType (attachments and notes left out):
    dc:title, dcterms:abstract, dc:identifier ("DOI 10…", a URL) and dc:description ("arXiv:…")."""
    import xml.etree.ElementTree as ET  # expat: no external entities, entity expansion bounded

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        return [], [f"{path.name}: not RDF/XML ({exc}); nothing imported"]
    if root.tag != f"{_RDF}RDF":
        return [], [f"{path.name}: not a Zotero RDF export (the root is <{root.tag}>, not <rdf:RDF>); nothing imported"]
    seeds, problems = [], []
    items = [el for el in root if el.find(f"{_Z}itemType") is not None]
    if not items:
        problems.append(f"{path.name}: no Zotero items (z:itemType) in this file; nothing imported")
    for i, el in enumerate(items, 1):
        kind = (el.findtext(f"{_Z}itemType") or "").strip()
        if kind in _NOT_PAPERS:
            continue
        name = f"#{i} ({el.get(f'{_RDF}about')})" if el.get(f"{_RDF}about") else f"#{i}"
        ids = _texts(el, f"{_DC}identifier")
        doi = next((norm_doi(x[4:]) for x in ids if x.upper().startswith("DOI ")), "")
        arxiv_id = arxiv_from(doi, *ids, *_texts(el, f"{_DC}description"), el.get(f"{_RDF}about"))
        seed = SeedInput(path.name, name, arxiv_id, doi, _clean(" ".join(_texts(el, f"{_DC}title"))),
                         _clean(" ".join(_texts(el, f"{_DCTERMS}abstract"))))
        _keep(seed, f"{path.name}: item {name}", seeds, problems)
    return seeds, problems


def _keep(seed: SeedInput, where: str, seeds: list[SeedInput], problems: list[str]) -> None:
    """The seed into `seeds`, or a line into `problems` saying where it was and why it is skipped."""
    why = _usable(seed)
    if why:
        problems.append(f"{where} skipped: {why}")
    else:
        seeds.append(seed)


# ------------------------------------------------------------------------------------------ PDFs
def read_pdf(path: Path) -> tuple[list[SeedInput], list[str]]:
    """Title, arXiv stamp and abstract (the text after an 'Abstract' heading on the first pages) of a PDF."""
    from ingest.pdf_parse import PdfError, parse_pdf

    try:
        parsed = parse_pdf(path, first_pages=3)  # a paper of any length (up to the default page limit)
    except PdfError as exc:
        return [], [f"{path.name}: skipped: {exc}"]
    except Exception as exc:  # noqa: BLE001 - one bad file never stops an import
        return [], [f"{path.name}: skipped: {type(exc).__name__}: {exc}"]
    body = [b for b in parsed.blocks if b.kind == "body"]
    abstract = ""
    for i, b in enumerate(body):
        if re.match(r"^\s*abstract\b", b.text, re.I) or re.search(r"abstract", b.section, re.I):
            abstract = re.sub(r"^\s*abstract[\s.:—-]*", "", b.text, flags=re.I)
            if len(abstract) < 200 and i + 1 < len(body):
                abstract = (abstract + " " + body[i + 1].text).strip()
            break
    if not abstract and body:
        abstract = " ".join(b.text for b in body[:2])
    seed = SeedInput(str(path), "", arxiv_from(parsed.arxiv_stamp), "", parsed.title.strip(), abstract[:2000])
    why = _usable(seed)
    return ([], [f"{path.name}: skipped: {why}"]) if why else ([seed], [])


# ------------------------------------------------------------------------------------------ any input
READERS = {".bib": read_bibtex, ".bibtex": read_bibtex, ".ris": read_ris, ".json": read_csljson,
           ".csljson": read_csljson, ".rdf": read_zotero_rdf, ".pdf": read_pdf}


def read_seeds(inputs: list[str]) -> tuple[list[SeedInput], list[str]]:
    """Seeds of every input (file, folder of PDFs, arXiv id or URL), and one line per thing skipped."""
    seeds: list[SeedInput] = []
    problems: list[str] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            pdfs = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf")
            if not pdfs:
                problems.append(f"{raw}: no PDF files in this folder")
            for p in pdfs:
                s, pr = read_pdf(p)
                seeds += s
                problems += pr
            continue
        if path.is_file():
            reader = READERS.get(path.suffix.lower())
            if reader is None:
                problems.append(f"{raw}: unknown file type "
                                "(use .bib, .ris, .json (CSL-JSON), .rdf (Zotero RDF) or .pdf)")
                continue
            s, pr = reader(path)
            seeds += s
            problems += pr
            continue
        try:
            arxiv_id, _ = parse_arxiv_id(raw)
        except ValueError:
            problems.append(f"{raw}: no such file, and not an arXiv id")
            continue
        seeds.append(SeedInput("arXiv id", raw, arxiv_id))
    return seeds, problems
