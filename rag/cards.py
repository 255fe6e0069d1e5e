"""Paper cards: what a paper says, field by field, each filled field standing on verbatim quotes.

A card is read once per paper version (cached by paper key, prompt version, model and CARD_FORMAT) and is the one
extraction behind every view of a paper: `compare` reads its columns from cards, the digest composes its method
analyses from them, `ask` may use them for paper-level questions.

    card = build_card(parts, "1706.03762")          # parts: the Library (paperrag.components.Components)
    card.field("data").value, card.field("data").quotes, card.results
    cards = cards_for(parts, ["1706.03762v7", "2005.11401v4"])

How a field is extracted (one small call per field, made for 0.5–1.5B models on a CPU):
1. within-paper retrieval: the paper's PASSAGES_PER_FIELD best passages for the field's keyword query (hybrid
   retrieval filtered to the paper; an abstract-only paper: its abstract);
2. their sentences become numbered candidates (`rag.quotes.candidates`: each one verified on its page), ranked by
   cosine to the field's question with the library's embedder plus a prior for their passage's retrieval rank,
   the best MAX_CANDIDATES kept (fewer when the context is small), shown in reading order;
3. the model answers a tiny JSON object, `{"value": "<short phrase>", "sentences": [3, 5]}` (the results field:
   up to 3 `{"metric", "value", "benchmark", "setting", "sentences"}`), decoded in JSON mode, repaired
   (`rag.compare_json.repair_json`) and validated with pydantic. **The model never types a quote or a page**: code
   attaches the quotes of the sentences it points at;
4. a value is accepted only when sentences shown to the model back it: `rag.quotes.unbacked` finds all its numbers
   and names in them and they hold some of its words (`attribute`). The sentences it cites are tried first (code
   keeps those that hold the value: small models often cite every sentence); when it cites none, or sentences
   that do not hold the value (small models point one off), code looks for the sentences that hold it by a
   stricter test (most of its words too) and says so in the field's note. A sentence number that does not exist,
   or a value no shown sentence holds, is rejected: the call is retried once with the problem spelled out
   (`rag.gated.generate_gated`), then the field is "not stated" with the reason in its note — never a guess. An unreadable reply after the retry is "failed"; a prompt too big for the
   context is retried with half the sentences, then "failed"; the model being unavailable fails the card.

The prompt (`rag/prompts/card_field.toml`) keeps what every call shares first — the instructions, then the
paper's title — and the sentences and the question last, so llama.cpp's prefix reuse of the KV cache helps.
Text inside a paper stays data: it only ever appears inside the numbered sentences.

Cached in the artifact cache: the whole card (kind "paper_card") and each field (kind "paper_card_field"), keyed
by paper key, prompt id@version + CARD_FORMAT (+ field), model, and checked against the PDF hash and parser
version. A second build makes no LLM call and loads no model; a compare that needs only three fields extracts
only those, and a later full card reuses them. Transient LLM errors are never cached.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from paperrag.errors import PaperragError
from rag.budget import estimate_tokens, fit, prompt_budget
from rag.compare_json import JsonRepairError, repair_json
from rag.gated import Check, OnError, Outcome, Rejection, generate_gated, retry_message
from rag.llm.base import (
    ChatResult,
    ContextOverflow,
    LLMError,
    LLMUnavailable,
    ModelMissing,
)
from rag.quotes import (
    Candidate,
    PageTexts,
    Quote,
    candidates,
    normalise,
    numbers,
    unbacked,
)
from rag.retrieval.retriever import Passage

if TYPE_CHECKING:
    from paperrag.components import Components
    from paperrag.records import PaperRecord

log = logging.getLogger(__name__)

CARD_FORMAT = 1  # bump when the card's shape changes (cached cards of an older shape are re-extracted)

FieldKey = Literal["problem", "motivation", "core_idea", "method_steps", "data", "setup", "baselines", "ablations",
                   "limitations", "compute", "code_data"]
FIELD_KEYS: tuple[str, ...] = ("problem", "motivation", "core_idea", "method_steps", "data", "setup", "baselines",
                               "ablations", "limitations", "compute", "code_data")
FIELD_LABELS = {
    "problem": "Problem / task", "motivation": "Motivation", "core_idea": "Core idea",
    "method_steps": "Method steps", "data": "Data", "setup": "Experimental setup", "baselines": "Baselines",
    "ablations": "Ablations", "limitations": "Limitations (authors)", "compute": "Compute / hardware",
    "code_data": "Code / data availability",
}


class QuoteRef(BaseModel):
    """A quote as stored in a card (JSON-friendly twin of `rag.quotes.Quote`)."""

    paper_key: str
    arxiv_id: str
    version: int
    page: int
    text: str
    title: str = ""
    abstract_only: bool = False

    @classmethod
    def of(cls, q: Quote) -> QuoteRef:
        return cls(paper_key=q.paper_key, arxiv_id=q.arxiv_id, version=q.version, page=q.page, text=q.text,
                   title=q.title, abstract_only=q.abstract_only)

    def quote(self) -> Quote:
        return Quote(self.paper_key, self.arxiv_id, self.version, self.page, self.text, self.title,
                     self.abstract_only)


class CardField(BaseModel):
    key: str
    value: str = ""  # short phrase/sentence in English; "" = not stated
    status: Literal["found", "not stated", "failed"] = "not stated"
    quotes: list[QuoteRef] = Field(default_factory=list)  # every filled field has ≥ 1 verified quote
    note: str = ""  # why not stated / failed (for the run report, never shown to a digest reader)
    evidence: list[str] = Field(default_factory=list)  # chunk ids the candidate sentences came from
    llm_calls: int = 0  # calls made by the build that returned it (0 when it came from the cache)
    seconds: float = 0.0

    @property
    def found(self) -> bool:
        return self.status == "found" and bool(self.value) and bool(self.quotes)

    @property
    def pages(self) -> list[int]:
        return sorted({q.page for q in self.quotes if not q.abstract_only})


class ResultItem(BaseModel):
    metric: str
    value: str
    benchmark: str = ""
    setting: str = ""
    quotes: list[QuoteRef] = Field(default_factory=list)  # the value's numbers occur in these quotes

    @property
    def pages(self) -> list[int]:
        return sorted({q.page for q in self.quotes if not q.abstract_only})

    def display(self, abstract_only: bool = False) -> str:
        """`BLEU 28.4 on WMT 2014 English-German (big) (p.8)`."""
        where = f" on {self.benchmark}" if self.benchmark else ""
        setting = f" ({self.setting})" if self.setting else ""
        return f"{self.metric} {self.value}{where}{setting} {pages_label(self.pages, abstract_only)}".strip()


class PaperCard(BaseModel):
    paper_key: str
    arxiv_id: str
    version: int
    title: str
    basis: Literal["full text", "abstract only"]
    model: str
    prompt: str  # prompt id@version the fields were extracted with
    format: int = CARD_FORMAT
    fields: dict[str, CardField] = Field(default_factory=dict)
    results: list[ResultItem] = Field(default_factory=list)
    failure: str = ""  # the whole card failed (model unavailable …); fields may be partial
    llm_calls: int = 0  # LLM calls made by the build that returned this card (0 when it came from the cache)
    seconds: float = 0.0  # wall time of that build
    results_field: CardField | None = None  # status and note of the results extraction (None: not extracted)
    cached: bool = False  # served from the artifact cache, no extraction this time

    def field(self, key: str) -> CardField:
        return self.fields.get(key) or CardField(key=key)

    def all_quotes(self) -> list[QuoteRef]:
        out = [q for f in self.fields.values() for q in f.quotes] + [q for r in self.results for q in r.quotes]
        seen, uniq = set(), []
        for q in out:
            k = (q.page, q.text)
            if k not in seen:
                seen.add(k)
                uniq.append(q)
        return uniq

    @property
    def abstract_only(self) -> bool:
        return self.basis == "abstract only"

    def to_markdown(self, *, quotes: bool = True) -> str:
        """The card as a person reads it: one line per field (value + pages), then the quotes behind them."""
        basis = " (abstract only)" if self.abstract_only else ""
        lines = [f"### {self.arxiv_id}v{self.version} — {self.title}{basis}", "", "| Field | Value |", "|---|---|"]
        for key in CARD_ROWS:
            if key == RESULTS:
                if self.results:
                    value = "; ".join(r.display(self.abstract_only) for r in self.results)
                    lines.append(f"| {RESULTS_LABEL} | {_md(value)} |")
                elif self.results_field is not None:
                    lines.append(f"| {RESULTS_LABEL} | {_md(_shown_status(self.results_field))} |")
                continue
            if key not in self.fields:
                continue
            f = self.fields[key]
            value = f"{f.value} {pages_label(f.pages, self.abstract_only)}".strip() if f.found else \
                _shown_status(f)
            lines.append(f"| {FIELD_LABELS[key]} | {_md(value)} |")
        if self.failure:
            lines += ["", f"**Card failed:** {self.failure}"]
        if quotes:
            cited = [(FIELD_LABELS.get(k, k), q) for k in CARD_ROWS if k in self.fields and self.fields[k].found
                     for q in self.fields[k].quotes]
            cited += [(RESULTS_LABEL, q) for r in self.results for q in r.quotes]
            if cited:
                lines += ["", "**Quotes**", ""]
                seen = set()
                for label, q in cited:
                    if (label, q.text) in seen:
                        continue
                    seen.add((label, q.text))
                    where = "abstract" if q.abstract_only else f"p.{q.page}"
                    lines.append(f"- {label} ({where}): “{q.text}”")
        return "\n".join(lines) + "\n"


# ================================================================================================ fields
RESULTS = "results"  # the headline-results field: (metric, value, benchmark, setting) items, not a CardField value
RESULTS_LABEL = "Headline results"
NOT_STATED = "not stated"
CARD_ROWS: tuple[str, ...] = ("problem", "motivation", "core_idea", "method_steps", "data", "setup", RESULTS,
                              "baselines", "ablations", "limitations", "compute", "code_data")  # a card's order

PASSAGES_PER_FIELD = 4  # within-paper passages whose sentences become the candidates
MAX_CANDIDATES = 10  # a field's own best sentences considered (fewer when the context is small)
# Fields read over one shared block of numbered sentences, one after another: the block is the prompt's prefix,
# so llama.cpp evaluates it once per group and each further field of the group costs only its question and its
# reply (measured in bench/digest.py: the card's prompt tokens fall ~3x). A group's fields are about the same
# part of a paper, so their best sentences overlap.
FIELD_GROUPS: tuple[tuple[str, ...], ...] = (
    ("problem", "motivation", "core_idea", "limitations"),
    ("method_steps", "data", "compute", "code_data"),
    ("setup", RESULTS, "baselines", "ablations"),
)
GROUP_PER_FIELD = 6  # each field's best sentences taken into its group's block (round-robin)
GROUP_MAX = 20  # sentences in a group's block
SHOWN_CHARS = 320  # a candidate longer than this is shown cut (its whole text is the quote)
MAX_QUOTES = 3  # quotes attached to one value
VALUE_MAX_TOKENS = 80
# The reply's shape, enforced where the backend can (llama.cpp grammar, Ollama `format`): at most MAX_QUOTES
# sentence numbers. Without it the 1.5B model, shown a block of 20 sentences, answered 6 of 24 fields of one
# bench run by counting [1, 2, 3, … 20] until the token limit (cut off, rejected, retried: ~13 s each).
_POINTERS = {"type": "array", "items": {"type": "integer"}, "maxItems": MAX_QUOTES}
VALUE_SCHEMA = {"type": "object", "properties": {"sentences": _POINTERS, "value": {"type": "string"}},
                "required": ["sentences", "value"]}
RESULTS_SCHEMA = {"type": "object", "properties": {"results": {"type": "array", "maxItems": 3, "items": {
    "type": "object", "properties": {"sentences": _POINTERS, "metric": {"type": "string"},
                                     "value": {"type": "string"}, "benchmark": {"type": "string"},
                                     "setting": {"type": "string"}},
    "required": ["sentences", "metric", "value", "benchmark", "setting"]}}}, "required": ["results"]}
RESULTS_MAX_TOKENS = 200
WORD_SUPPORT = 0.34  # share of a value's content words that its cited sentences must contain
UNCITED_WORD_SUPPORT = 0.6  # … and the sentences code finds for a value the model cited no sentence for
NUMBER_BONUS = 0.08  # ranking bonus of a sentence with a number, for the fields that are numbers
PASSAGE_PRIOR = 0.12  # ranking bonus of the sentences of the best passage (less for the next ones)


@dataclass(frozen=True)
class CardSpec:
    """How one card field is read: the retrieval query (keywords, for BM25 + dense), the question the model is
    asked (also what the candidate sentences are ranked by), the names a person may call it."""

    key: str
    query: str
    question: str
    kind: Literal["value", "results"] = "value"
    aliases: tuple[str, ...] = ()
    numeric: bool = False  # sentences with numbers rank higher
    # Words one of a value's sentences must hold, for fields a sentence can only state in a few words. In a group's
    # shared block the 1.5B sometimes answers from another field's sentence (seen: "compute: the Pyramid method
    # (Nenkova and Passonneau, 2004)", "code/data: the resulting corpus consists of 81.1M papers").
    cues: str = ""

    @property
    def label(self) -> str:
        return RESULTS_LABEL if self.key == RESULTS else FIELD_LABELS[self.key]


CARD_SPECS: dict[str, CardSpec] = {s.key: s for s in (
    CardSpec("problem", "problem task we address challenge in this paper we study",
             "What task or problem does the paper address?", aliases=("task", "problem", "task problem")),
    CardSpec("motivation", "motivation however existing methods suffer limitation of prior work challenge",
             "Why does the problem matter, or what is wrong with existing approaches?", aliases=("why",)),
    CardSpec("core_idea", "we propose a novel approach key idea main contribution",
             "What is the core idea of the method the paper proposes?",
             aliases=("idea", "method", "approach", "contribution")),
    CardSpec("method_steps", "model architecture consists of layers components pipeline steps algorithm",
             "What are the main components or steps of the proposed method?",
             aliases=("architecture", "pipeline", "architecture pipeline", "model", "steps", "method")),
    CardSpec("data", "trained on training data dataset corpus pre-training examples",
             "What data is the method trained on or built from?",
             aliases=("training data", "dataset", "datasets")),
    CardSpec("setup", "we evaluate on benchmarks datasets tasks experimental setup metrics",
             "On which benchmarks or datasets, with which metrics, is the method evaluated?",
             aliases=("benchmarks", "evaluation", "evaluation benchmarks", "benchmark", "experimental setup")),
    CardSpec(RESULTS, "results table outperforms state of the art score accuracy improvement",
             "What are the paper's headline numeric results?", kind="results", numeric=True,
             aliases=("headline results", "numbers", "metrics", "headline numbers")),
    CardSpec("baselines", "compared with baselines prior work previous state-of-the-art methods",
             "Which baseline methods is the proposed method compared with?", aliases=("baseline",)),
    CardSpec("ablations", "ablation study removing component variant effect of",
             "What do the paper's ablation studies show?", aliases=("ablation", "ablation study")),
    CardSpec("limitations", "limitations future work drawbacks we leave fails",
             "What limitations do the authors state?", aliases=("limitation", "limitations authors")),
    CardSpec("compute", "trained on GPUs TPUs hardware training time hours days",
             "What hardware or compute was used (GPUs, training time)?", numeric=True,
             aliases=("hardware", "compute hardware", "gpus"),
             cues=r"gpus?|tpus?|cpus?|cores?|hours?|days?|weeks?|minutes?|flops?|pf-?days?|petaflops?|memory|"
                  r"nodes?|clusters?|machines?|hardware|accelerators?|[kvpah]\d{2,3}|rtx|titan|nvidia|compute|"
                  r"wall-?clock|training time|trained for|steps"),
    CardSpec("code_data", "code is available github open source release data",
             "Is the code or data released, and where?",
             cues=r"https?|www|github|gitlab|huggingface|available|availability|release[sd]?|releasing|open[- ]?"
                  r"sourced?|publicly|download(?:able)?|repository|licen[cs]e[sd]?|upon request",
             aliases=("availability", "code", "code availability", "code data availability", "code and data",
                      "code data")),
)}


def _norm_name(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9@]+", text.lower()))


def field_for(name: str) -> CardSpec | None:
    """The card field a name means ("training data", "Baselines", "results", "core_idea"), or None."""
    a = _norm_name(name)
    for spec in CARD_SPECS.values():
        if a in (_norm_name(spec.key), _norm_name(spec.label), *(_norm_name(x) for x in spec.aliases)):
            return spec
    return None


def pages_label(pages: Sequence[int], abstract_only: bool = False) -> str:
    """`(p.6)`, `(pp.3–5, 8)`, `(abstract)`; "" without pages."""
    if abstract_only:
        return "(abstract)"
    if not pages:
        return ""
    pages = sorted(set(pages))
    spans: list[list[int]] = []
    for p in pages:
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)
    return f"(p.{text})" if len(pages) == 1 else f"(pp.{text})"


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _shown_status(f: CardField) -> str:
    return "failed" if f.status == "failed" else NOT_STATED


# ================================================================================================ value text
_REF = re.compile(r"\s*\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]")
# "(Figure 2)", ", Table 3", "in Table 2": pointers into the paper, not part of a value (and numbers it would not back)
_FIGREF = re.compile(r"\s*\((?:see )?(?:Fig\.|Figure|Table|Tab\.|Eq\.|Equation|Section|Sec\.|§)\s*\d+[a-z]?\)"
                     r"|(?:\s*,\s*|\s+(?:in|of|from|see)\s+|\s+|^)(?:Fig\.|Figure|Table|Tab\.)\s*\d+[a-z]?\b",
                     re.IGNORECASE)
_FILLER = re.compile(
    r"^(?:the (?:authors|paper|excerpts?|sentences?) (?:state|states|say|says|mention|mentions|propose|proposes|"
    r"describe|describes)(?: that)?|the (?:method|approach) (?:the paper proposes|proposed (?:in|by) the paper)"
    r"(?: is)?|the proposed (?:architecture|pipeline|architecture or pipeline|method|model) (?:is|consists of|"
    r"includes)|(?:the )?answer(?: is)?\s*:?|according to the (?:excerpts|sentences),?)\s+", re.IGNORECASE)
MAX_VALUE_WORDS = 40
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")
_STOP = frozenset([
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from", "as", "at", "is", "are",
    "was", "were", "be", "been", "being", "this", "that", "these", "those", "it", "its", "we", "our", "they",
    "their", "which", "who", "whom", "what", "when", "where", "how", "than", "then", "there", "also", "such",
    "can", "may", "not", "no", "into", "over", "under", "between", "both", "each", "per", "via", "using",
    "used", "use", "paper", "model", "models", "method", "approach", "proposed", "propose", "based", "results",
    "show", "shows", "new", "more", "most", "other", "some", "only", "all", "any", "one", "two", "three",
])
_stemmer = None


def content_stems(text: str) -> set[str]:
    """Stemmed content words of a text (no stop words, at least 3 letters)."""
    global _stemmer
    if _stemmer is None:
        import Stemmer

        _stemmer = Stemmer.Stemmer("english")
    words = [w.lower().strip("-") for w in _WORD.findall(text or "")]
    words = [w for w in words if len(w) >= 3 and w not in _STOP]
    return set(_stemmer.stemWords(words))


def loop_at(text: str, n: int = 5) -> int:
    """Word index where a run of n words repeats for the first time (a generation loop), or -1."""
    words = re.sub(r"\[[^\]]*\]", " ", text).lower().split()
    seen: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if gram in seen and i - seen[gram] >= n:
            return i
        seen.setdefault(gram, i)
    return -1


def clean_value(v: str) -> str:
    """A value as a reader wants it: no bibliography markers ([10]), no repeated list items (a small model's
    loop), no "The authors state that" filler, at most MAX_VALUE_WORDS words ending at a sentence or clause."""
    v = _FIGREF.sub("", _REF.sub("", " ".join(str(v).split()))).strip()
    if is_not_stated(v):
        return NOT_STATED
    parts = [p.strip().rstrip(",;") for p in re.split(r"[,;]\s+", v)]
    if len(parts) > 2:
        seen: list[str] = []
        for p in parts:
            if p and p.lower() not in (x.lower() for x in seen):
                seen.append(p)
        if len(seen) < len(parts):
            v = ", ".join(seen)
    loop = loop_at(v)
    if loop >= 0:  # "uses X in three ways: • In the first way, it uses X in three ways: …" → the first pass
        v = " ".join(v.split()[:loop]).rstrip(",;:• ") + " …"
    v = _FILLER.sub("", v).strip()
    v = v[:1].upper() + v[1:] if v[:1].islower() and v.split(" ", 1)[0].isalpha() else v
    words = v.split()
    if len(words) > MAX_VALUE_WORDS:
        v = " ".join(words[:MAX_VALUE_WORDS])
        cut = max(v.rfind(". "), v.rfind("; "))
        v = v[: cut + 1] if cut > len(v) // 2 else v.rstrip(",;: ") + " …"
    return v.rstrip(",; ").strip()


def is_not_stated(value: str) -> bool:
    v = re.sub(r"[^a-z ]", "", value.lower()).strip()
    return v in ("", "not stated", "none", "na", "n a", "not mentioned", "not specified", "unknown", "not given",
                 "not available", "not provided", "no", "null", "not applicable") or v.startswith(
        ("not stated", "the excerpts do not", "the sentences do not", "the paper does not", "not mentioned",
         "no information"))


def bare_not_stated(text: str) -> bool:
    """A reply that is only "not stated" / "none" without any JSON (small models do that)."""
    t = " ".join((text or "").split()).strip(" .\"'`")
    return 0 < len(t) <= 40 and is_not_stated(t)


# ================================================================================================ model output
_POINTER = re.compile(r"^\W*(?:s|sentence|sent\.?|no\.?)?\s*\d+(?:\W+(?:s|sentence)?\s*\d+)*\W*$", re.IGNORECASE)


def _sentence_numbers(v: Any) -> list[int | str]:
    """[3, 5] from [3, 5], "3, 5", "[3][5]", ["3", "S5"], 3 (what small models write). A string that is not a
    number is kept as it is: a model that quotes the sentence it means instead of giving its number
    (`sentence_refs` matches it to a candidate)."""
    if v is None:
        return []
    if isinstance(v, bool):
        raise ValueError("sentences must be numbers")  # noqa: TRY004 (pydantic reports ValueError)
    if isinstance(v, (int, float)):
        return [int(v)]
    if isinstance(v, str):
        if not v.strip():
            return []
        return [int(x) for x in re.findall(r"\d+", v)][:GROUP_MAX] if _POINTER.match(v) else [v.strip()]
    if isinstance(v, (list, tuple)):
        out: list[int | str] = []
        for x in v:
            out += _sentence_numbers(x) if isinstance(x, (int, float, str)) and not isinstance(x, bool) else []
        return out[:GROUP_MAX]
    raise ValueError("sentences must be a list of sentence numbers")


_SENTENCE_KEYS = ("sentences", "sentence", "evidence", "citations", "cite", "sources", "ids", "numbers")


def _move_sentences(data: Any) -> Any:
    if isinstance(data, dict) and "sentences" not in data:
        for k in _SENTENCE_KEYS[1:]:
            if k in data:
                return {**{x: y for x, y in data.items() if x != k}, "sentences": data[k]}
    return data


class ValueAnswer(BaseModel):
    """{"value": "..."} as small models write it (renamed key, bare string, a list, a number), cleaned."""

    model_config = ConfigDict(extra="ignore")
    value: str

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"value": data}
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if isinstance(data, dict) and "value" not in data:
            data = _move_sentences(data)
            strings = [v for k, v in data.items() if k != "sentences" and isinstance(v, (str, int, float))
                       and not isinstance(v, bool)]
            if "answer" in data:
                data = {**data, "value": data["answer"]}
            elif len(strings) == 1:
                data = {**data, "value": strings[0]}
        return data

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        if v is None:
            return NOT_STATED
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
            return ", ".join(str(x) for x in v)
        if not isinstance(v, str):
            raise ValueError("value must be a string")  # noqa: TRY004
        return clean_value(v)


class FieldAnswer(ValueAnswer):
    """{"value": "...", "sentences": [3, 5]}: a card field's reply."""

    sentences: list[int | str] = Field(default_factory=list)  # numbers; a quoted sentence text now and then

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _move_sentences(data)

    @field_validator("sentences", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> list[int | str]:
        return _sentence_numbers(v)


_TEMPLATE_ECHO = re.compile(r"^(?:\.\.\.|…|model size or condition(?:, or)?|dataset or task(?: it was measured on)?|"
                            r"metric(?: name)?|benchmark|setting|or|none|n/?a|table \d+)$", re.IGNORECASE)


class ResultAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metric: str = ""
    value: str
    benchmark: str = ""
    setting: str = ""
    sentences: list[int | str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _move_sentences(data)

    @field_validator("metric", "value", "benchmark", "setting", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        if not isinstance(v, str):
            raise ValueError("must be a string")  # noqa: TRY004
        v = _FIGREF.sub("", _REF.sub("", " ".join(v.split())))[:120].strip(" ,;")
        return "" if _TEMPLATE_ECHO.match(v) else v  # the prompt's placeholder copied back

    @field_validator("sentences", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> list[int | str]:
        return _sentence_numbers(v)


class ResultsAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    results: list[ResultAnswer]

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"results": data}
        if isinstance(data, dict) and "results" not in data:
            lists = [v for k, v in data.items() if isinstance(v, list) and k not in _SENTENCE_KEYS]
            if len(lists) == 1:
                return {"results": lists[0]}
            if "value" in data and ("metric" in data or "benchmark" in data):
                return {"results": [data]}
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            # drop members that are not even objects with a value (a cut-off last member, prose)
            data = {**data, "results": [r for r in data["results"] if isinstance(r, dict) and r.get("value") not in
                                        (None, "")]}
        return data


def parse_value(text: str) -> ValueAnswer:
    """A {"value": …} reply, repaired and validated (JsonRepairError / ValidationError otherwise). A bare
    "not stated" without any JSON is taken as {"value": "not stated"}."""
    return _parse(text, ValueAnswer, lambda: ValueAnswer(value=NOT_STATED))


def parse_field(text: str) -> FieldAnswer:
    """A card field's {"value": …, "sentences": […]} reply, repaired and validated."""
    return _parse(text, FieldAnswer, lambda: FieldAnswer(value=NOT_STATED))


def parse_results(text: str) -> ResultsAnswer:
    """A {"results": [...]} reply, repaired and validated; a bare "not stated" / "none" is no result."""
    return _parse(text, ResultsAnswer, lambda: ResultsAnswer(results=[]))


def _parse(text: str, model, empty):
    try:
        data = repair_json(text)
    except JsonRepairError:
        if bare_not_stated(text):
            return empty()
        raise
    return model.model_validate(data)


def json_problem(exc: Exception) -> str:
    """One line saying why a reply could not be read (for the retry message and the note)."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ())) or "reply"
        return f"invalid JSON shape ({loc}: {err.get('msg', '')})"[:200]
    return str(exc)[:200]


# ================================================================================================ extraction
class CardError(PaperragError, ValueError):
    """A card that cannot be made (unknown paper); one line, says what to do."""


def find_paper(catalog, ident: str) -> PaperRecord | None:
    """The indexed paper for "1706.03762", "1706.03762v5", "arXiv:1706.03762" or a paper key; None if unknown."""
    from ingest.arxiv_ids import parse_arxiv_id

    pid = str(ident).strip().removeprefix("arXiv:").removeprefix("arxiv:")
    if not pid:
        return None
    row = catalog.get_paper(pid)
    if row is None or row.status != "indexed":
        try:
            arxiv_id, version = parse_arxiv_id(pid)
        except ValueError:
            arxiv_id, version = pid, None
        row = catalog.latest_indexed(arxiv_id) if version is None else catalog.get_paper(f"{arxiv_id}v{version}")
    return row if row is not None and row.status == "indexed" else None


_UNREADABLE = "unreadable reply: "


class _Unavailable(Exception):
    """The model cannot be used at all (not installed, server down): the card stops asking."""

    def __init__(self, error: LLMError):
        super().__init__(str(error))
        self.error = error


class CardBuilder:
    """Builds cards over the Library's components. Counts what it did: `llm_calls`, `cached` (fields served from
    the cache). The embedder, retriever and LLM are touched only for a field that is not cached."""

    def __init__(self, parts: Components, *, progress=None, raise_unavailable: bool = False):
        from paperrag.progress import NullProgress

        self.parts = parts
        self.settings = parts.settings
        self.progress = progress or NullProgress()
        self.raise_unavailable = raise_unavailable  # compare: propagate; digests: a card that says it failed
        self.llm_calls = 0
        self.cached = 0
        self._texts: PageTexts | None = None
        self._vectors: dict[str, Any] = {}
        self._blocks: dict[tuple[str, int], list[Candidate]] = {}

    # ------------------------------------------------------------------ identity
    @property
    def prompt(self):
        from rag.prompts import load_prompt

        return load_prompt("card_field")

    @property
    def cache_prompt(self) -> str:
        return f"{self.prompt.key}/card{CARD_FORMAT}"

    @property
    def model_id(self) -> str:
        return self.parts.model_id

    @property
    def texts(self) -> PageTexts:
        if self._texts is None:
            self._texts = PageTexts(self.parts.catalog, self.parts.pdf_cache)
        return self._texts

    def resolve(self, paper: str | PaperRecord) -> PaperRecord:
        if not isinstance(paper, str):
            return paper
        rec = find_paper(self.parts.catalog, paper)
        if rec is None:
            raise CardError(f"unknown paper: {paper} — not indexed in this library (see `paperrag status`; add "
                            f"with `paperrag ingest ID`)")
        return rec

    # ------------------------------------------------------------------ cards
    def build(self, paper: str | PaperRecord, *, fields: Sequence[str] | None = None, refresh: bool = False,
              task: str | None = None) -> PaperCard:
        """The card of `paper`: every field (`fields` None), or only `fields` (keys of CARD_ROWS; a partial card,
        its fields cached one by one). `task`: a progress task (started by the caller) advanced per field."""
        rec = self.resolve(paper)
        asked = set(CARD_ROWS) if fields is None else set(fields)
        want = [k for group in FIELD_GROUPS for k in group if k in asked]  # a group's fields one after another
        unknown = [k for k in (fields or ()) if k not in CARD_ROWS]
        if unknown:
            raise CardError(f"unknown card field(s): {', '.join(unknown)}; the fields are {', '.join(CARD_ROWS)}")
        t0 = time.perf_counter()
        calls0 = self.llm_calls
        stamp = _stamp(rec)
        if not refresh:
            hit = self.parts.artifacts.get("paper_card", rec.key, self.cache_prompt, self.model_id, "en")
            if hit is not None and _fresh(hit.extra, stamp):
                card = PaperCard.model_validate_json(hit.content)
                card = _subset(card, want) if fields is not None else card
                self.cached += len(want)
                self._advance(task, len(want))
                return card.model_copy(update={"llm_calls": 0, "seconds": round(time.perf_counter() - t0, 3),
                                               "cached": True})
        card = PaperCard(paper_key=rec.key, arxiv_id=rec.arxiv_id, version=rec.version, title=rec.title or rec.key,
                         basis="full text" if rec.fulltext else "abstract only", model=self.model_id,
                         prompt=self.prompt.key)
        unavailable: LLMError | None = None
        from_cache = True
        for key in want:
            spec = CARD_SPECS[key]
            if task:
                self.progress.update(task, description=f"{rec.key}: {spec.label}")
            if unavailable is not None:
                got = (_failed(key, f"LLM unavailable: {unavailable}"), [])
            else:
                try:
                    got, hit = self._field(rec, spec, stamp, refresh)
                    from_cache &= hit
                except _Unavailable as exc:
                    if self.raise_unavailable:
                        raise exc.error from None
                    unavailable = exc.error
                    got = (_failed(key, f"LLM unavailable: {unavailable}"), [])
            f, results = got
            if key == RESULTS:
                card.results_field, card.results = f, results
            else:
                card.fields[key] = f
            self._advance(task)
        everything = [*card.fields.values(), *([card.results_field] if card.results_field else [])]
        if unavailable is not None:
            card.failure = f"the model is unavailable: {unavailable}"
        elif everything and all(f.status == "failed" for f in everything):
            card.failure = f"every field failed; first: {everything[0].note}"
        card.llm_calls = self.llm_calls - calls0
        card.seconds = round(time.perf_counter() - t0, 3)
        card.cached = from_cache and unavailable is None
        if fields is None and unavailable is None and all(_cacheable(f) for f in everything):
            self.parts.artifacts.put("paper_card", rec.key, self.cache_prompt, self.model_id, "en",
                                     card.model_dump_json(), outcome="failed" if card.failure else "ok",
                                     reason=card.failure, extra=stamp)
        return card

    def _advance(self, task: str | None, n: int = 1) -> None:
        if task:
            self.progress.advance(task, n)

    # ------------------------------------------------------------------ one field
    def _field(self, rec: PaperRecord, spec: CardSpec, stamp: dict, refresh: bool
               ) -> tuple[tuple[CardField, list[ResultItem]], bool]:
        """((field, results), came from the cache)."""
        cache_key = f"{self.cache_prompt}:{spec.key}"
        if not refresh:
            hit = self.parts.artifacts.get("paper_card_field", rec.key, cache_key, self.model_id, "en")
            if hit is not None and _fresh(hit.extra, stamp):
                self.cached += 1
                stored = _StoredField.model_validate_json(hit.content)
                return (stored.field.model_copy(update={"llm_calls": 0, "seconds": 0.0}), stored.results), True
        t0 = time.perf_counter()
        calls0 = self.llm_calls
        f, results = self._extract(rec, spec)
        f.llm_calls = self.llm_calls - calls0
        f.seconds = round(time.perf_counter() - t0, 3)
        if _cacheable(f):
            self.parts.artifacts.put("paper_card_field", rec.key, cache_key, self.model_id, "en",
                                     _StoredField(field=f, results=results).model_dump_json(), outcome=f.status,
                                     reason=f.note, extra=stamp)
        return (f, results), False

    def candidates_for(self, rec: PaperRecord, spec: CardSpec, limit: int = MAX_CANDIDATES) -> list[Candidate]:
        """The numbered candidate sentences of `rec` for `spec`: the best `limit` by cosine to the field's
        question, in reading order (verified quotes, from the paper's best passages for the field)."""
        sources = self._sources(rec, spec)
        every = candidates(sources, self.texts)
        if len(every) <= 1:
            return _renumber([c for c in every if not addresses_a_model(c.quote.text)])
        import numpy as np

        vecs = self._embed([c.quote.text for c in every])
        qvec = self._embed([spec.question])[0]  # a question: keyword lists match keyword soup (tables, lists)
        rank = {s.chunk_id: i for i, s in enumerate(sources)}
        prior = [PASSAGE_PRIOR * (1 - rank.get(c.chunk_id, len(sources)) / len(sources)) for c in every]
        scores = vecs @ qvec + np.asarray(prior)  # the sentence's own match, and its passage's retrieval rank
        if spec.numeric:
            scores = scores + np.asarray([NUMBER_BONUS if numbers(c.quote.text) else 0.0 for c in every])
        scores = scores - np.asarray([100.0 if addresses_a_model(c.quote.text) else 0.0 for c in every])
        best = candidates(sources, self.texts, limit=limit, scores=[float(x) for x in scores])
        return _renumber([c for c in best if not addresses_a_model(c.quote.text)])

    def block_for(self, rec: PaperRecord, spec: CardSpec) -> list[Candidate]:
        """The numbered sentences shown for `spec`: its group's shared block — each field of the group contributes
        its best GROUP_PER_FIELD (round-robin, so every field has its best sentences in), at most GROUP_MAX, in
        reading order. The same list for every field of the group, so their prompts share it as a prefix."""
        g = group_index(spec.key)
        if (rec.key, g) in self._blocks:
            return self._blocks[(rec.key, g)]
        ranked = [sorted(self.candidates_for(rec, CARD_SPECS[k], limit=GROUP_PER_FIELD), key=lambda c: -c.score)
                  for k in FIELD_GROUPS[g]]
        picked: dict[tuple[str, str], Candidate] = {}
        for rank in range(GROUP_PER_FIELD):
            for own in ranked:
                if rank < len(own) and len(picked) < GROUP_MAX:
                    c = own[rank]
                    picked.setdefault((c.chunk_id, c.quote.text), c)
        order = sorted(picked.values(), key=lambda c: (c.quote.page, _ordinal(c.chunk_id), c.n))
        block = [dataclasses.replace(c, n=i) for i, c in enumerate(order, 1)]
        self._blocks[(rec.key, g)] = block
        return block

    def _embed(self, texts: list[str]):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, np.asarray(self.parts.embedder.embed(missing), dtype=np.float32), strict=True):
                self._vectors[t] = v
        return np.stack([self._vectors[t] for t in texts])

    def _sources(self, rec: PaperRecord, spec: CardSpec) -> list[Passage]:
        """The paper's best passages for the field; an abstract-only paper: its abstract (its chunks)."""
        out: list[Passage] = []
        if rec.fulltext:
            from rag.retrieval.filters import SearchFilters

            hits = self.parts.retriever.search(spec.query, k=PASSAGES_PER_FIELD + 3,
                                               filters=SearchFilters(arxiv_ids=(rec.key,)))
            out = [h for h in hits if h.kind != "references"][:PASSAGES_PER_FIELD]
        if not out:  # abstract only, or nothing matched: the paper's first chunks
            limit = None if not rec.fulltext else PASSAGES_PER_FIELD
            chunks = [c for c in self.parts.catalog.chunks_of(rec.key) if c.kind != "references"][:limit]
            out = [Passage(c.id, rec.arxiv_id, rec.version, rec.key, rec.title, c.section, c.page_start,
                           c.page_end or c.page_start, c.kind, c.text, 0.0) for c in chunks]
        if not out and rec.abstract:
            out = [Passage(f"{rec.key}#abstract", rec.arxiv_id, rec.version, rec.key, rec.title, "Abstract", 1, 1,
                           "body", rec.abstract, 0.0)]
        return out

    def _extract(self, rec: PaperRecord, spec: CardSpec) -> tuple[CardField, list[ResultItem]]:
        base = CardField(key=spec.key)
        cands = self.block_for(rec, spec)
        base.evidence = list(dict.fromkeys(c.chunk_id for c in cands))
        if not cands:
            return base.model_copy(update={"note": "no usable sentence in the paper's text for this field; "
                                                   "no LLM call"}), []
        try:
            llm = self.parts.llm
        except (LLMUnavailable, ModelMissing) as exc:
            raise _Unavailable(exc) from None
        prompt = self.prompt
        results = spec.kind == "results"
        max_tokens = RESULTS_MAX_TOKENS if results else VALUE_MAX_TOKENS
        ctx = int(getattr(llm, "context_tokens", 0) or self.settings.llm.context_tokens)
        shown = _fit_block(cands, prompt, rec.title, group_index(spec.key), ctx)
        messages = _messages(prompt, rec.title, spec, shown)
        reply = ('{"results": [{"sentences": [n], "metric": "...", "value": "...", "benchmark": "...", '
                 '"setting": "..."}]}, each result citing the sentence that states its number, or {"results": []}'
                 if results else '{"sentences": [n], "value": "..."}: the number of the sentence that states it, '
                 'then a short phrase copied from it, or {"sentences": [], "value": "not stated"}')

        def attempt(prev: Rejection | None) -> ChatResult:
            nonlocal shown, messages
            if prev is not None and isinstance(prev.error, ContextOverflow):
                shown = _renumber(sorted(shown, key=lambda c: -c.score)[: max(1, len(shown) // 2)])
                messages = _messages(prompt, rec.title, spec, shown)
            elif prev is not None:
                messages = [*messages, {"role": "assistant", "content": (prev.raw.text if prev.raw else "")[:600]},
                            {"role": "user", "content": prev.feedback}]
            self.llm_calls += 1
            return llm.chat(messages, max_tokens=max_tokens, temperature=0.0,
                            json_mode=RESULTS_SCHEMA if results else VALUE_SCHEMA,
                            purpose=f"card:{spec.key}:{rec.key}"[:200], prompt_id=prompt.id,
                            prompt_version=str(prompt.version))

        def check(out: ChatResult):
            return _check_results(out, shown, self.texts) if results else _check_value(out, spec, shown, self.texts)

        def on_error(exc: LLMError) -> OnError:
            if isinstance(exc, (LLMUnavailable, ModelMissing)):
                return OnError.RAISE
            return OnError.RETRY if isinstance(exc, ContextOverflow) and len(shown) > 1 else OnError.STOP

        try:
            g = generate_gated(attempt, check, on_error=on_error, feedback=lambda problems: retry_message(
                problems, lead="That reply was rejected: ", then=f"Reply again with only {reply}."))
        except (LLMUnavailable, ModelMissing) as exc:
            raise _Unavailable(exc) from None
        base.evidence = list(dict.fromkeys(c.chunk_id for c in shown))
        if g.ok:
            f, items = g.value
            note = f.note
            if g.outcome is Outcome.AFTER_RETRY:
                note = "; ".join(x for x in (f"after a retry ({_retry_problem(g.rejected[-1])})", note) if x)
            return f.model_copy(update={"note": note, "evidence": base.evidence}), items
        last = g.rejected[-1]
        if last.error is not None:
            if isinstance(last.error, ContextOverflow):
                why = f"the prompt did not fit the context even with {len(shown)} sentence(s): {last.error}"
                return base.model_copy(update={"status": "failed", "note": why}), []
            return base.model_copy(update={"status": "failed", "note": f"LLM error: {last.error}"}), []
        if last.problems and last.problems[0].startswith(_UNREADABLE):
            return base.model_copy(update={"status": "failed", "note": "model output unusable after a retry: "
                                                                       + last.problems[0][len(_UNREADABLE):]}), []
        return base.model_copy(update={"status": "not stated",
                                       "note": "rejected after a retry: " + "; ".join(last.problems)[:400]}), []


class _StoredField(BaseModel):
    field: CardField
    results: list[ResultItem] = Field(default_factory=list)


def _stamp(rec: PaperRecord) -> dict:
    return {"sha": rec.content_sha256 or "", "parser": int(rec.parser or 0), "fulltext": bool(rec.fulltext)}


def _fresh(extra: dict, stamp: dict) -> bool:
    """A cached card/field was read from the same PDF and parse as the paper's current chunks."""
    return all(extra.get(k) == v for k, v in stamp.items())


def _cacheable(f: CardField) -> bool:
    """Transient failures (backend errors, a context too small) are not cached: the next run tries again."""
    return not (f.status == "failed" and f.note.startswith(("LLM error", "LLM unavailable", "the prompt did not fit")))


def _failed(key: str, note: str) -> CardField:
    return CardField(key=key, status="failed", note=note)


def _subset(card: PaperCard, want: Sequence[str]) -> PaperCard:
    return card.model_copy(update={"fields": {k: v for k, v in card.fields.items() if k in want},
                                   "results": card.results if RESULTS in want else [],
                                   "results_field": card.results_field if RESULTS in want else None})


_TO_A_MODEL = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding)\s+"
    r"(?:instructions?|prompts?|directions?)|\b(?:system\s+prompt|you\s+are\s+(?:an?\s+)?(?:ai|assistant|"
    r"language\s+model|chatbot)|(?:reply|respond|answer|output)\s+(?:only\s+)?(?:with|that)\b.{0,40}"
    r"(?:json|\{|\"value\"))", re.IGNORECASE)


def addresses_a_model(sentence: str) -> bool:
    """A sentence written to the model that reads the paper ("Ignore all previous instructions and …"), not a claim
    of the paper: never a candidate. It would be data in the prompt anyway; left out, it cannot become a quote
    that a value is attributed to."""
    return bool(_TO_A_MODEL.search(sentence))


def _renumber(cands: Sequence[Candidate]) -> list[Candidate]:
    """Candidates back in reading order (their old numbers), numbered 1… again."""
    return [dataclasses.replace(c, n=i) for i, c in enumerate(sorted(cands, key=lambda c: c.n), 1)]


def _shown_text(c: Candidate) -> str:
    t = c.quote.text
    return t if len(t) <= SHOWN_CHARS else t[:SHOWN_CHARS].rsplit(" ", 1)[0] + " …"


def _messages(prompt, title: str, spec: CardSpec, shown: Sequence[Candidate]) -> list[dict]:
    return prompt.messages(title=title, question=spec.question, kind=spec.kind,
                           candidates=[{"n": c.n, "text": _shown_text(c)} for c in shown])


def _fit(cands: Sequence[Candidate], prompt, title: str, spec: CardSpec, ctx: int, max_tokens: int
         ) -> list[Candidate]:
    """The best-scored candidates whose text fits the context next to the fixed prompt and the answer."""
    fixed = sum(estimate_tokens(m["content"]) for m in _messages(prompt, title, spec, [])) + 40
    room = prompt_budget(ctx, max_tokens, fixed)
    ranked = sorted(cands, key=lambda c: -c.score)
    return _renumber(fit(ranked, room, cost=lambda c: estimate_tokens(_shown_text(c)) + 4))


def _fit_block(cands: Sequence[Candidate], prompt, title: str, group: int, ctx: int) -> list[Candidate]:
    """A group's block cut to what fits next to the group's longest question and the longest reply: the same
    sentences for every field of the group (their shared prefix)."""
    fits = [_fit(cands, prompt, title, CARD_SPECS[k], ctx, RESULTS_MAX_TOKENS) for k in FIELD_GROUPS[group]]
    return min(fits, key=len)  # the same best-scored sentences cut shortest: what fits every field's prompt


def group_index(key: str) -> int:
    return next(i for i, g in enumerate(FIELD_GROUPS) if key in g)


def _ordinal(chunk_id: str) -> int:
    tail = chunk_id.rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _retry_problem(rejection: Rejection) -> str:
    if isinstance(rejection.error, ContextOverflow):
        return "the prompt did not fit the context; retried with half the sentences"
    return rejection.problems[0] if rejection.problems else "rejected"


def sentence_refs(refs: Sequence[int | str], shown: Sequence[Candidate]) -> list[int]:
    """Sentence numbers of a reply's `sentences`: numbers as given; a quoted text (a small model quotes the
    sentence instead of giving its number) → the number of the candidate that holds it or that it holds (at
    least MIN_QUOTE_WORDS words); a text that is no candidate's → 0, a number that does not exist."""
    from rag.quotes import MIN_QUOTE_WORDS, normalise

    out: list[int] = []
    for r in refs:
        if isinstance(r, int):
            out.append(r)
            continue
        needle = normalise(r).lower().rstrip(" .")
        hit = next((c.n for c in shown if len(needle.split()) >= MIN_QUOTE_WORDS
                    and (needle in normalise(c.quote.text).lower() or normalise(c.quote.text).lower() in needle)),
                   0)
        out.append(hit)
    return out


def _cited(refs: Sequence[int | str], shown: Sequence[Candidate]) -> tuple[list[Candidate], str]:
    """(the candidates a reply points at, the problem when it points only at sentences that do not exist)."""
    nums = sentence_refs(refs, shown)
    valid = [shown[n - 1] for n in dict.fromkeys(nums) if 1 <= n <= len(shown)]
    if nums and not valid:
        bad = ", ".join(str(n) if isinstance(n, int) else repr(n[:60]) for n in dict.fromkeys(refs))
        return [], f"sentence {bad} does not exist (the sentences are numbered 1 to {len(shown)})"
    return valid, ""


def _label(cands: Sequence[Candidate]) -> str:
    return ", ".join(str(c.n) for c in cands)


def attribute(text: str, pool: Sequence[Candidate], *, words: float = WORD_SUPPORT, limit: int = MAX_QUOTES
              ) -> list[Candidate]:
    """The fewest sentences of `pool` (at most `limit`) that back `text`: together they hold every number and name
    of it (`rag.quotes.unbacked`) and at least `words` of its content words. [] when no such set exists.

    The model chose `pool` (the sentences it cited; all the sentences shown when it cited none); code keeps the
    ones that hold the value: a small model often cites every sentence, or none."""
    required = set(unbacked(text, []))
    stems = content_stems(text)
    cover = {c.n: required - set(unbacked(text, [c.quote])) for c in pool}
    overlap = {c.n: len(stems & content_stems(c.quote.text)) for c in pool}
    chosen: list[Candidate] = []
    left = set(required)
    while left and len(chosen) < limit:
        best = max((c for c in pool if c not in chosen), key=lambda c: (len(cover[c.n] & left), overlap[c.n]),
                   default=None)
        if best is None or not cover[best.n] & left:
            return []
        chosen.append(best)
        left -= cover[best.n]
    if left:
        return []
    if not chosen:  # nothing to check but words: the sentence that shares most of them
        best = max(pool, key=lambda c: overlap[c.n], default=None)
        if best is None or not overlap[best.n]:
            return []
        chosen = [best]
    if stems:
        have = set().union(*(content_stems(c.quote.text) for c in chosen))
        if len(stems & have) / len(stems) < words:
            extra = max((c for c in pool if c not in chosen), key=lambda c: overlap[c.n], default=None)
            if extra is None or len(chosen) >= limit:
                return []
            chosen.append(extra)
            have |= content_stems(extra.quote.text)
            if len(stems & have) / len(stems) < words:
                return []
    return sorted(chosen, key=lambda c: c.n)


def _verified(chosen: Sequence[Candidate], texts: PageTexts) -> list[Quote]:
    """The quotes of `chosen`, each checked again on its page where it is attached (they were built verified)."""
    return [c.quote for c in chosen if texts.verify(c.quote)]


def _back(text: str, nums: Sequence[int | str], shown: Sequence[Candidate], texts: PageTexts, *, words: float
          ) -> tuple[list[Quote], str, str]:
    """(quotes backing `text`, the problem when there are none, a note on how they were chosen)."""
    cited, problem = _cited(nums, shown)
    if problem:
        return [], problem, ""
    if cited:
        chosen = attribute(text, cited, words=words)
        if chosen:
            quotes = _verified(chosen, texts)
            return quotes, "" if quotes else "the sentences it cites cannot be found on their pages", ""
    # the model cited none, or sentences that do not hold the value (small models point one off): the
    # sentences that do hold it, by the stricter test, else the value is rejected
    chosen = attribute(text, [c for c in shown if c not in cited], words=max(words, UNCITED_WORD_SUPPORT))
    if not chosen:
        if not cited:
            return [], f"it cites no sentence number, and no sentence holds {text!r}", ""
        missing = unbacked(text, [c.quote for c in cited])
        if missing:
            return [], f"{', '.join(missing)} in {text!r} is not in sentence {_label(cited)}", ""
        return [], f"sentence {_label(cited)} does not say {text!r}", ""
    quotes = _verified(chosen, texts)
    how = f"cited sentence {_label(cited)}, which does not hold it" if cited else "cited no sentence"
    note = f"the model {how}; code attributed the value to sentence {_label(chosen)}"
    return quotes, "" if quotes else "the sentences that hold it cannot be found on their pages", note


def _parsed(out: ChatResult, parse):
    """(the parsed reply, None) or (None, the rejection naming why it could not be read)."""
    try:
        return parse(out.text), None
    except (JsonRepairError, ValidationError) as exc:
        extra = " (the reply hit the output limit)" if out.finish_reason == "length" else ""
        return None, Check.reject(_UNREADABLE + json_problem(exc) + extra)


_CUT_POINTERS = re.compile(r'"sentences"\s*:\s*\[([\d,\s]*)\]')
_CUT_VALUE = re.compile(r'"value"\s*:\s*"')
COPY_HEAD = 40  # characters of a cut-off value that must be a verbatim copy of a cited sentence


def _copied_sentence(out: ChatResult, shown: Sequence[Candidate]) -> Candidate | None:
    """The sentence a reply cut off at the output limit was copying into its value, if it was copying one it
    cites. The 1.5B often copies whole sentences as the value; 12 % of its card values in one digest bench run hit
    the 80-token limit mid-copy, and the retry copied again and was cut again."""
    if out.finish_reason != "length":
        return None
    pointers, start = _CUT_POINTERS.search(out.text), _CUT_VALUE.search(out.text)
    if pointers is None or start is None:
        return None
    head = normalise(out.text[start.end():]).replace('\\"', '"')[:COPY_HEAD]
    if len(head) < COPY_HEAD:
        return None
    for n in (int(x) for x in re.findall(r"\d+", pointers.group(1))):
        if 1 <= n <= len(shown) and head in normalise(shown[n - 1].quote.text):
            return shown[n - 1]
    return None


def _check_value(out: ChatResult, spec: CardSpec, shown: Sequence[Candidate], texts: PageTexts
                 ) -> Check[tuple[CardField, list[ResultItem]]]:
    copied = _copied_sentence(out, shown)
    if copied is not None:
        value, quotes = copied.quote.text, _verified([copied], texts)
        note = f"the reply was cut off while copying sentence {copied.n}; the value is that sentence"
        if not quotes:
            return Check.reject("the sentence it cites cannot be found on its page")
    else:
        ans, unreadable = _parsed(out, parse_field)
        if unreadable:
            return unreadable
        if is_not_stated(ans.value):
            return Check.accept((CardField(key=spec.key, status="not stated",
                                           note="the model found no sentence that states it"), []))
        value = ans.value
        quotes, problem, note = _back(ans.value, ans.sentences, shown, texts, words=WORD_SUPPORT)
        if problem:
            return Check.reject(problem)
    if spec.cues and not any(re.search(rf"\b(?:{spec.cues})\b", q.text, re.IGNORECASE) for q in quotes):
        return Check.reject(f"the sentence you cite is not about the {spec.label.lower()}; cite the sentence that "
                            f"states the {spec.label.lower()}, or reply not stated")
    return Check.accept((CardField(key=spec.key, value=value, status="found", note=note,
                                   quotes=[QuoteRef.of(q) for q in quotes]), []))


def _check_results(out: ChatResult, shown: Sequence[Candidate], texts: PageTexts
                   ) -> Check[tuple[CardField, list[ResultItem]]]:
    ans, unreadable = _parsed(out, parse_results)
    if unreadable:
        return unreadable
    if not ans.results:
        return Check.accept((CardField(key=RESULTS, status="not stated",
                                       note="the model found no numeric result"), []))
    kept: list[ResultItem] = []
    dropped: list[str] = []
    notes: list[str] = []
    for r in ans.results[:3]:
        label = " ".join(x for x in (r.metric, r.value, r.benchmark) if x)
        if not numbers(r.value):
            dropped.append(f"result {label!r} has no number")
            continue
        text = " ".join(x for x in (r.metric, r.value, r.benchmark, r.setting) if x)
        quotes, problem, note = _back(text, r.sentences, shown, texts, words=0.0)
        if problem:
            dropped.append(f"result {label!r}: {problem}")
            continue
        if any(k.value == r.value and k.metric == (r.metric or "result") for k in kept):
            continue
        notes += [note] if note else []
        kept.append(ResultItem(metric=r.metric or "result", value=r.value, benchmark=r.benchmark, setting=r.setting,
                               quotes=[QuoteRef.of(q) for q in quotes]))
    if not kept:
        return Check.reject(*dropped)
    uniq = list({(q.page, q.text): q for r in kept for q in r.quotes}.values())
    note = "; ".join([*dict.fromkeys(notes), *([f"dropped: {'; '.join(dropped)}"] if dropped else [])])[:400]
    f = CardField(key=RESULTS, status="found", value="; ".join(f"{r.metric} {r.value}" for r in kept), quotes=uniq,
                  note=note)
    return Check.accept((f, kept))


# ================================================================================================ public API
def build_card(parts: Components, paper: str, *, progress=None, refresh: bool = False,
               fields: Sequence[str] | None = None) -> PaperCard:
    """The card of one paper ("1706.03762", a version, or a paper key): every field with its quotes or "not
    stated" (`fields`: only those). From the cache when it was built before with this prompt and model (no LLM
    call, no model load); `refresh` extracts again. An unavailable model gives a card whose `failure` says so.
    Raises CardError for an unknown paper."""
    builder = CardBuilder(parts, progress=progress)
    n = len(CARD_ROWS) if fields is None else len(fields)
    builder.progress.start("card", total=n, description=f"Reading {paper}")
    try:
        return builder.build(paper, fields=fields, refresh=refresh, task="card")
    finally:
        builder.progress.stop("card")


def cards_for(parts: Components, keys: Sequence[str], progress=None, *, refresh: bool = False
              ) -> dict[str, PaperCard]:
    """Cards of several papers, {key as given: card}, one builder (one model load, shared sentence vectors).
    Papers not in the library are left out (logged)."""
    builder = CardBuilder(parts, progress=progress)
    builder.progress.start("cards", total=len(keys) * len(CARD_ROWS), description=f"Reading {len(keys)} papers")
    out: dict[str, PaperCard] = {}
    try:
        for key in keys:
            try:
                out[key] = builder.build(key, refresh=refresh, task="cards")
            except CardError as exc:
                log.warning("no card for %s: %s", key, exc)
                builder.progress.advance("cards", len(CARD_ROWS))
    finally:
        builder.progress.stop("cards")
    return out


def field_label(key: str) -> str:
    return RESULTS_LABEL if key == RESULTS else FIELD_LABELS.get(key, key)


__all__ = ["CARD_FORMAT", "CARD_ROWS", "CARD_SPECS", "FIELD_KEYS", "FIELD_LABELS", "NOT_STATED", "RESULTS",
           "RESULTS_LABEL", "CardBuilder", "CardError", "CardField", "CardSpec", "PaperCard", "QuoteRef",
           "ResultItem", "build_card", "cards_for", "field_for", "find_paper"]
