"""Small text repairs shared by feeds, the API client and the PDF parser.

* `clean_abstract` - RSS/Atom descriptions start with "arXiv:2512.20276v1 Announce Type: new  Abstract: ";
  strip that, repair the text, collapse whitespace.
* `fix_text` - ligatures (U+FB00..FB06) and line-end hyphenation ("recog-\\nnition" / "recog- nition" ->
  "recognition") while keeping real hyphens ("state-of-the-art", "Vision-Language-Action",
  "pre- and post-training"). Line breaks are kept: the PDF parser needs them.
* `extract_code_links` - GitHub / GitLab / Hugging Face / *.github.io / anonymous.4open.science / project
  page links, trailing punctuation removed, balanced parentheses kept, deduplicated, in order.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# ------------------------------------------------------------------------------------------ RSS prefix
_RSS_PREFIX = re.compile(
    r"^\s*arXiv:\s*(?P<id>\S+?)\s+Announce\s+Type:\s*(?P<type>[\w-]+)\s+Abstract:\s*",
    re.IGNORECASE,
)


def split_rss_description(text: str) -> tuple[str, str, str]:
    """'arXiv:2512.20276v1 Announce Type: new  Abstract: Foo' -> ('2512.20276v1', 'new', 'Foo').

    Without the prefix: ('', '', text).
    """
    text = text or ""
    m = _RSS_PREFIX.match(text)
    if not m:
        return "", "", text
    return m["id"], m["type"].lower(), text[m.end() :]


def collapse_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def clean_abstract(text: str) -> str:
    """Abstract without the RSS prefix, ligatures and hyphenation repaired, whitespace collapsed."""
    _, _, body = split_rss_description(text or "")
    return collapse_ws(fix_text(body))


# ------------------------------------------------------------------------------------------ fix_text
LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",  # long s + t
    "\ufb06": "st",
}
_LIGATURE_TABLE = str.maketrans(LIGATURES)

# after "pre-" these words mean a suspended hyphen ("pre- and post-training"), never a line break
_SUSPENDED = frozenset({"and", "or", "nor", "to", "vs", "versus", "as", "but", "und", "et"})
# first halves that keep their hyphen when a compound is broken at the line end ("self-\nsupervised")
HYPHEN_PREFIXES = frozenset(
    {"self", "non", "cross", "semi", "quasi", "pseudo", "zero", "few", "fine", "one", "two", "three", "half"}
)  # conservative: TeX also breaks "high-ly", "open-ing", "state-ment", so those stay out
_HYPHEN_CHARS = r"\-\u2010\u2011\u00ad"
_BROKEN = re.compile(
    rf"(?P<left>(?<![\w{_HYPHEN_CHARS}])[^\W_]+(?:[-\u2010\u2011][^\W_]+)*)"
    rf"[{_HYPHEN_CHARS}](?P<gap>[ \t]*\r?\n[ \t]*|[ \t]+)(?P<right>[^\W_][\w]*)"
)


def _rejoin(m: re.Match) -> str:
    left, gap, right = m["left"], m["gap"], m["right"]
    at_line_end = "\n" in gap
    last = re.split(r"[-\u2010\u2011]", left)[-1].lower()
    if right.lower() in _SUSPENDED:  # "pre- and post-training": a real, suspended hyphen
        return f"{left}- {right}"
    if not right[0].islower():  # "Vision-Language-\nAction", "COVID-\n19"
        return f"{left}-{right}"
    if not (left[-1].isalpha()):  # "3- 5"
        return m.group(0) if not at_line_end else f"{left}-{right}"
    if re.search(r"[-\u2010\u2011]", left) or last in HYPHEN_PREFIXES:  # "state-of-the-\nart", "self-\nsupervised"
        return f"{left}-{right}"
    return f"{left}{right}"  # "recog-\nnition" -> "recognition"


def fix_text(text: str) -> str:
    """Repair ligatures and line-end hyphenation; everything else (line breaks included) is kept."""
    if not text:
        return ""
    text = text.translate(_LIGATURE_TABLE)
    text = _BROKEN.sub(_rejoin, text)
    return text.replace("\u00ad", "")  # remaining soft hyphens are invisible


# ------------------------------------------------------------------------------------------ code links
_URL = re.compile(
    r"(?:https?://|(?<![\w./@])(?=(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|hf\.co|"
    r"anonymous\.4open\.science)/))"
    r"[^\s<>\"'`{}|\\^]+",
    re.IGNORECASE,
)
_CODE_HOSTS = re.compile(
    r"^(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|hf\.co|anonymous\.4open\.science|bitbucket\.org|"
    r"codeberg\.org|sourceforge\.net|zenodo\.org|paperswithcode\.com|colab\.research\.google\.com|"
    r"[\w-]+\.github\.io|[\w-]+\.gitlab\.io|sites\.google\.com|[\w-]+\.hf\.space)$",
    re.IGNORECASE,
)
_NEVER = re.compile(r"(?:^|\.)(?:arxiv\.org|doi\.org|creativecommons\.org|dx\.doi\.org)$", re.IGNORECASE)
# any other URL counts when the words right before it say it is code or a project page
_CONTEXT = re.compile(
    r"\b(?:code|codes|source|project\s+page|project\s+website|project|website|webpage|homepage|home\s+page|"
    r"demo|repository|repo|implementation|github|open[- ]sourced?|released?)\b[^.]{0,60}$",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\"”’>*"


def trim_url(url: str) -> str:
    """A URL without the sentence punctuation glued to its end; balanced closing brackets are kept."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        elif last == "]" and url.count("[") < url.count("]"):
            url = url[:-1]
        elif last == "}" and url.count("{") < url.count("}"):
            url = url[:-1]
        else:
            break
    return url


def extract_code_links(text: str) -> list[str]:
    """Code / project-page links in `text`, in order of appearance, without duplicates."""
    found: list[str] = []
    seen: set[str] = set()
    fixed = fix_text(text or "")
    for m in _URL.finditer(fixed):
        url = trim_url(m.group(0))
        if not re.match(r"https?://", url, re.IGNORECASE):
            url = "https://" + url
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if "." not in host or _NEVER.search(host):
            continue
        if _CODE_HOSTS.match(host):
            if host.endswith(("github.com", "gitlab.com", "huggingface.co")) and not parts.path.strip("/"):
                continue  # a bare "https://github.com" links to no code
        elif not _CONTEXT.search(fixed[max(0, m.start() - 80) : m.start()]):
            continue
        key = re.sub(r"^https?://(?:www\.)?", "", url, flags=re.IGNORECASE).rstrip("/").lower()
        key = key.removesuffix(".git")
        if key in seen:
            continue
        seen.add(key)
        found.append(url)
    return found
