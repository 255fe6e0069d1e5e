"""Hostile PDFs in one `paperrag ingest` of a folder, in its own process: a decompression bomb (a 1.5 MB stream
that inflates to 1.5 GB), a 10,000-page PDF, a 1-byte file and a PDF with JavaScript. Each bad one is refused
with its own reason, the good paper beside them is indexed, and the process's peak memory stays that of an
ingest of the good paper alone (measured in a second process, side by side). The JavaScript PDF's reader pages
are PNG images: the PDF itself is never served."""

from __future__ import annotations

import html
import re
import sqlite3
import zlib
from pathlib import Path
from urllib.parse import urljoin

import pymupdf
import pytest
from fakes.pdfs import make_paper_pdf

from faults.harness import cli_env, run_cli_measured

DEADLINE_S = 600
BOMB_INFLATED = 1536 << 20  # 1.5 GB of spaces behind one page's /Contents
RSS_SLACK_MB = 400  # what the bomb run may use beyond the good paper's run: far below the bomb's 1,536 MB


def bomb_pdf(path: Path, inflated: int = BOMB_INFLATED) -> Path:
    """A one-page PDF (written byte by byte, correct xref) whose content stream is `inflated` bytes of spaces in
    a valid zlib stream of about a thousandth of that: one 64 MB deflate block, made once and repeated (a full
    flush ends each on a byte boundary with no reference back), then the page's text and the Adler-32 of it all."""
    chunk, text = b" " * (64 << 20), b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET"
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(chunk) + raw.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    adler = 1
    for _ in range(inflated // len(chunk)):
        adler = zlib.adler32(chunk, adler)
    stream = (b"\x78\xda" + block * (inflated // len(chunk)) + end.compress(text) + end.flush()
              + zlib.adler32(text, adler).to_bytes(4, "big"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(out)
    return path


def many_pages_pdf(path: Path, pages: int = 10_000) -> Path:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page()
        if i % 1000 == 0:
            page.insert_text((72, 72), f"Page {i + 1} of a very long document.")
    doc.save(path, garbage=0, deflate=True)
    return path


def js_pdf(path: Path) -> Path:
    """A paper-like PDF whose /OpenAction runs JavaScript in a viewer that allows it."""
    make_paper_pdf(path, title="Scripted Widget Paper", arxiv_id="2408.00007", seed=81,
                   extra_sections=[("2 Result", "Scripted widgets route 12 tokens per expert in every layer.")])
    doc = pymupdf.open(path)
    js = doc.get_new_xref()
    doc.update_object(js, "<< /S /JavaScript /JS (app.alert('pwned');) >>")
    doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{js} 0 R")
    doc.saveIncr()
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostilepdf")
    good_dir, bad_dir = root / "good", root / "mixed"
    good_dir.mkdir()
    bad_dir.mkdir()
    make_paper_pdf(good_dir / "good.pdf", title="Honest Widget Paper", arxiv_id="2408.00001", seed=80,
                   extra_sections=[("2 Result", "Honest widgets keep 17 of 64 heads at no loss.")])
    (bad_dir / "good.pdf").write_bytes((good_dir / "good.pdf").read_bytes())
    bomb_pdf(bad_dir / "bomb.pdf")
    many_pages_pdf(bad_dir / "long.pdf")
    (bad_dir / "one-byte.pdf").write_bytes(b"%")
    js_pdf(bad_dir / "scripted.pdf")
    out = {}
    for name, folder in (("good", good_dir), ("mixed", bad_dir)):
        home = root / f"home-{name}"
        proc, peak_mb = run_cli_measured(["ingest", str(folder)], cli_env(home, root), timeout=DEADLINE_S)
        with sqlite3.connect(home / "catalog.sqlite") as db:
            rows = db.execute("SELECT local_path, status, COALESCE(error, '') FROM papers").fetchall()
        out[name] = {"proc": proc, "peak_mb": peak_mb, "rows": {Path(p).name: (s, e) for p, s, e in rows},
                     "home": home, "text": proc.stdout + proc.stderr}
    return out


def _reason(run: dict, file: str) -> str:
    """The reason given for `file`: its catalog row's error, else the output lines naming it."""
    status, error = run["rows"].get(file, ("", ""))
    if error:
        return error
    text = " ".join(run["text"].split())
    return " ".join(m.group(0) for m in re.finditer(rf"{re.escape(file)}[^│\n]*", text))


def test_the_good_paper_is_indexed_beside_the_hostile_ones(runs):
    mixed = runs["mixed"]
    assert mixed["rows"]["good.pdf"][0] == "indexed", mixed["text"][-3000:]
    assert mixed["rows"]["scripted.pdf"][0] == "indexed"  # JavaScript is inert data to a text extractor
    assert "Traceback" not in mixed["text"], mixed["text"][-3000:]


def test_the_bomb_is_refused_with_its_reason_and_memory_stays_bounded(runs):
    mixed = runs["mixed"]
    reason = _reason(mixed, "bomb.pdf")
    assert "inflates to more than 256 MB" in reason and "parse.max_stream_mb" in reason, reason
    assert mixed["rows"]["bomb.pdf"][0] == "failed"
    grew = mixed["peak_mb"] - runs["good"]["peak_mb"]
    print(f"peak RSS: good paper alone {runs['good']['peak_mb']:.0f} MB, with the hostile PDFs "
          f"{mixed['peak_mb']:.0f} MB (+{grew:.0f} MB; the bomb inflates to {BOMB_INFLATED >> 20} MB)")
    assert grew < RSS_SLACK_MB, (runs["good"]["peak_mb"], mixed["peak_mb"])


def test_ten_thousand_pages_are_refused_at_the_page_limit(runs):
    reason = _reason(runs["mixed"], "long.pdf")
    assert "10000 pages, more than the limit of 300" in reason and "parse.max_pages" in reason, reason


def test_a_one_byte_file_is_refused_as_not_a_pdf(runs):
    reason = _reason(runs["mixed"], "one-byte.pdf")
    assert "not a PDF" in reason, reason


def test_the_reader_serves_the_scripted_pdf_as_page_images_only(runs, embedder):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from faults.test_hostile import assert_inert
    from paperrag.library import Library
    from paperrag.settings import Settings
    from ui.reader_web import add_reader_routes

    home = runs["mixed"]["home"]
    with Library(Settings(home=home), embedder=embedder) as lib:
        key = next(p.key for p in lib.papers() if p.arxiv_id == "2408.00007")
        app = FastAPI()
        add_reader_routes(app, lib)
        with TestClient(app) as client:
            page = client.get("/" + lib.reader_url(key, 1, ["12 tokens per expert"]))
            assert page.status_code == 200 and "app.alert" not in page.text
            scripts = [s for s in re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.S)]
            assert all("pwned" not in s and "alert" not in s for s in scripts)
            assert_inert(re.sub(r"<script[^>]*>.*?</script>", "", page.text, flags=re.S), "reader page")
            srcs = re.findall(r'<img[^>]+src="([^"]+)"', page.text)
            assert srcs, page.text[:2000]
            for src in srcs:
                img = client.get(urljoin(str(page.url), html.unescape(src)))
                assert img.status_code == 200 and img.headers["content-type"] == "image/png"
                assert img.content.startswith(b"\x89PNG") and b"/JavaScript" not in img.content
