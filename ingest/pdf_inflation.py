"""Decompression bombs: a Flate stream of a few MB can inflate to gigabytes, and MuPDF inflates a page's content
stream whole, in memory, before reading it. Every Flate-compressed stream is inflated here first, in 1 MB steps
whose output is counted and dropped, and the PDF is refused as soon as one stream passes the limit: memory stays
bounded by the step, time by the limit.

Only Flate (what PDF writers use; nested Flate layers included) is measured; the other filters MuPDF decodes
lazily or only for images, which ingest does not render.
"""

from __future__ import annotations

import re
import zlib

STEP = 1 << 20
_FLATE = {"FlateDecode", "Fl"}


def _leading_flate_layers(filter_value: str) -> int:
    names = re.findall(r"/(\w+)", filter_value)
    n = 0
    for name in names:
        if name not in _FLATE:
            break
        n += 1
    return n


def inflated_size(raw: bytes, layers: int, limit: int) -> int:
    """Bytes that `layers` nested Flate layers of `raw` inflate to, counted up to just past `limit`. A damaged
    stream counts what inflated before the damage (MuPDF reports the damage itself)."""
    decoders = [zlib.decompressobj() for _ in range(layers)]
    total = 0

    def push(i: int, data: bytes) -> bool:  # True once the limit is passed
        nonlocal total
        if i == len(decoders):
            total += len(data)
            return total > limit
        dec = decoders[i]
        while data and not dec.eof:
            out = dec.decompress(data, STEP)
            if out and push(i + 1, out):
                return True
            data = dec.unconsumed_tail
        return False

    try:
        for start in range(0, len(raw), STEP):
            if push(0, raw[start:start + STEP]):
                break
    except zlib.error:
        pass
    return total


def first_bomb(doc, limit: int) -> tuple[int, int] | None:
    """(xref, bytes counted) of the first stream of the open pymupdf `doc` that inflates past `limit` bytes."""
    for xref in range(1, doc.xref_length()):
        try:
            if not doc.xref_is_stream(xref):
                continue
            kind, value = doc.xref_get_key(xref, "Filter")
            layers = _leading_flate_layers(value) if kind in ("name", "array") else 0
            if not layers:
                continue
            raw = doc.xref_stream_raw(xref)
        except Exception:  # a broken object: MuPDF's own reading reports it
            continue
        size = inflated_size(raw, layers, limit)
        if size > limit:
            return xref, size
    return None
