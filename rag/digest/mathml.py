"""LaTeX spans rendered to MathML when a digest page is written, so the HTML digest shows formulas with no script,
no stylesheet and no font to load (its Content-Security-Policy stays script-free; the same page works as a file,
inside the web app's Digests tab, as a download and in a feed reader). Browsers draw MathML natively (Chromium
109+, Firefox, Safari).

Converted by `latex2mathml` (pure Python), then rebuilt from an allow-list: MathML elements and presentation
attributes only (no `href`, `style`, event handler or foreign element: `\\href`, `\\style` or `\\text{<b>}` in
a paper's abstract cannot put markup on the page), every text escaped again. A span the converter cannot read,
or whose output names a command it does not know (`<mi>\\foo</mi>`), is not converted: the caller shows its
LaTeX as text. A few macros papers use without defining them (`\\R`, `\\N`, `\\Z`, `\\Q`, `\\C`) are expanded.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from xml.etree import ElementTree as ET

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_ELEMENTS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
    "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "mfenced", "merror", "semantics", "annotation", "mmultiscripts", "mprescripts", "none",
}
_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "separator", "form", "lspace", "rspace", "accent",
    "accentunder", "movablelimits", "symmetric", "largeop", "minsize", "maxsize", "width", "height", "depth",
    "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines", "frame",
    "displaystyle", "scriptlevel", "notation", "open", "close", "separators", "align", "mathsize", "encoding",
}
_ATTR_VALUE = re.compile(r"^[\w .%+#-]{0,64}$")
_UNKNOWN_COMMAND = re.compile(r"\\[A-Za-z]+")
_MACROS = {r"\R": r"\mathbb{R}", r"\N": r"\mathbb{N}", r"\Z": r"\mathbb{Z}", r"\Q": r"\mathbb{Q}",
           r"\C": r"\mathbb{C}"}
_MACRO = re.compile(r"\\(R|N|Z|Q|C)(?![A-Za-z])")
_BARE_AMP = re.compile(r"&(?!#?\w+;)")  # "\\text{a \\& b}" comes out as a bare "&"
_LOCK = threading.Lock()  # latex2mathml keeps module state while it walks a formula


def _expand(tex: str) -> str:
    return _MACRO.sub(lambda m: _MACROS["\\" + m[1]], tex)


def _clean(el: ET.Element) -> ET.Element | None:
    """A copy of `el` with only allowed elements and attributes; None when something else is in it."""
    tag = el.tag.split("}", 1)[-1]
    if tag not in _ELEMENTS:
        return None
    out = ET.Element(tag)
    for name, value in el.attrib.items():
        name = name.split("}", 1)[-1]
        if name == "xmlns":
            continue
        if name in _ATTRIBUTES and _ATTR_VALUE.match(value or ""):
            out.set(name, value)
    text = el.text or ""
    if tag != "annotation" and _UNKNOWN_COMMAND.search(text):
        return None  # "\foo" the converter did not know, shown as a name
    out.text = el.text
    for child in el:
        c = _clean(child)
        if c is None:
            return None
        c.tail = child.tail
        out.append(c)
    return out


@lru_cache(maxsize=4096)
def to_mathml(tex: str, display: bool = False) -> str | None:
    """`tex` (what is between the delimiters) as a `<math>` element, or None when it cannot be rendered."""
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - a dependency; without it formulas stay LaTeX text
        return None
    try:
        with _LOCK:
            raw = convert(_expand(tex), display="block" if display else "inline")
        root = ET.fromstring(_BARE_AMP.sub("&amp;", raw))
    except Exception:  # noqa: BLE001 - any failure of the converter: the span stays text
        return None
    clean = _clean(root)
    if clean is None or clean.tag != "math":
        return None
    clean.set("xmlns", MATHML_NS)
    clean.set("display", "block" if display else "inline")
    ann = ET.SubElement(clean, "annotation")  # for copy and screen readers: the source (hidden by browsers)
    ann.set("encoding", "application/x-tex")
    ann.text = tex
    # wrap body + annotation in <semantics> as MathML wants
    body = [c for c in clean if c is not ann]
    sem = ET.Element("semantics")
    for c in body:
        clean.remove(c)
        sem.append(c)
    clean.remove(ann)
    if len(sem) != 1:
        row = ET.Element("mrow")
        row.extend(list(sem))
        sem = ET.Element("semantics")
        sem.append(row)
    sem.append(ann)
    clean.append(sem)
    return ET.tostring(clean, encoding="unicode", short_empty_elements=False)


__all__ = ["MATHML_NS", "to_mathml"]
