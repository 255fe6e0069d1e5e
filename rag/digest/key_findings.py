"""Key findings of a paper: up to `k` sentences of its abstract, chosen without an LLM.

Method
------
1. **Split** the abstract into sentences at `.`, `!`, `?` (and `。！？`) followed by a space and something
   that can start a sentence. Not a boundary: abbreviations ("e.g.", "i.e.", "et al.", "Fig.", "Eq.",
   "Sec.", "vs.", "cf.", "approx.", "resp.", "No."), single initials ("M. Azam"), a period inside a number,
   version, URL or domain ("2.55x", "v1.5", "0.5B", "github.io/IVRA" - no space follows), text inside
   `$…$` math. RSS prefixes are removed first (`ingest.text_clean.clean_abstract`).
2. **Score** every sentence:
   * contribution cues, +2: "we propose / introduce / present / develop / design / curate…", "this paper /
     review presents / summarises…", "termed / dubbed / called", "our key insight"; +1 for the first such
     sentence (the one that names the method); weaker verbs ("we study / investigate / build"), +1;
   * result cues, +2.5: "outperform(s)", "surpass", "achieve(s)", "improves / improved / improvement",
     "reduces / reduction" (not "improving", a purpose), "speedup", "state-of-the-art", "consistently",
     "results / experiments / tests show / demonstrate", "we show / find / observe";
   * numbers: +1.5 for the first percentage / multiplier ("2.55x", "+4.2%", "44%") / "from A to B" / "A -> B"
     / a metric value ("FID of 3.37") / a unit ("30 Hz"), +0.5 for each further one (at most +3 in all);
   * comparisons, +0.5: "than", "unlike prior", "over the baseline", "compared to", "relative", "vs";
   * intent, -1.5: "aims to", "seeks to", "whether" (a question, not a finding);
   * background, -2: a sentence opening with "however / yet / while / although", "remains (a central)
     challenge", "existing / current … methods … suffer / lack / typically / only", "have emerged / shown",
     "recent advances";
   * boilerplate, -4: links and availability ("code is available at", "project page", "best viewed at",
     "we release", "we hope", "future research");
   * position prior: the first sentence -1.5 (it is the field's background almost always), the last 40 %
     of the abstract +0.3 (where results are stated); fewer than 6 words -1.
3. **Select**: the best contribution sentence and the best result sentence first (when their score is
   positive), then the highest scores; a sentence whose word set overlaps a chosen one by >= 60 % (Jaccard)
   is skipped. A sentence qualifies with a score > 0. The first sentence is returned alone only when
   nothing else qualifies; when nothing qualifies at all, the best-scoring sentence is returned, so a
   non-empty abstract always gives at least one sentence.
4. **Order**: the chosen sentences in abstract order.

Compared with the reference tool (reports 001/002, a cue-phrase regex): it picks result sentences with numbers
(IVRA's "+4.2%", Point Bridge's "44% gains", VideoWorld 2's "70% improvement", ActionFlow's "2.55x") where
the reference kept only the "we introduce" sentence or background; it never returns a survey's closing
boilerplate or an abstract's first background sentence (VideoWorld 2) when better sentences exist; and its
splitter keeps "…attacks. Specifically, …" and "ST4VLA includes two stages: (i) …" as separate sentences
where the reference glued two sentences into one finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.text_clean import clean_abstract

_ABBREV = {
    "e.g", "i.e", "al", "etc", "vs", "cf", "fig", "figs", "eq", "eqs", "sec", "secs", "tab", "ref", "refs",
    "approx", "resp", "no", "nos", "dr", "prof", "mr", "ms", "inc", "ltd", "co", "jr", "sr", "st", "vol",
    "ch", "pp", "w.r.t", "a.k.a", "u.s", "u.k", "e.u", "viz", "ca", "esp", "incl", "min", "max", "avg",
}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[$\\]?[A-Z0-9])|(?<=[。！？])\s*")


def _mask_math(text: str) -> str:
    """Same length as `text`, with the inside of $…$ replaced by underscores (no boundary in a formula)."""
    return re.sub(r"\$[^$]*\$", lambda m: "$" + "_" * (len(m.group(0)) - 2) + "$", text)


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract; see the module docstring for what is not a boundary."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        return []
    masked = _mask_math(text)
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(masked):
        end = m.start()
        before = masked[start:end]
        if before.endswith("."):
            last_tok = re.search(r"(\S+)\.$", before)
            tok = last_tok.group(1).lower().lstrip("(\"'") if last_tok else ""
            if tok in _ABBREV or re.fullmatch(r"[a-z]", tok) or re.fullmatch(r"(?:[a-z]\.)+[a-z]", tok):
                continue  # "e.g.", "et al.", "M. Azam", "U.S."
        sent = text[start:end].strip()
        if sent:
            out.append(sent)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    # a "sentence" of one or two characters (stray punctuation) joins its neighbour
    merged: list[str] = []
    for s in out:
        if merged and len(s) < 3:
            merged[-1] += " " + s
        else:
            merged.append(s)
    return merged


_SUBJECT = (
    r"\b(?:we|(?:this|the|our) (?:paper|work|study|review|survey|article))\s+"
    r"(?:also\s+|further\s+|then\s+|first\s+)?"
)
_CONTRIB = re.compile(
    _SUBJECT + r"(?:propose|introduce|present|develop|design|construct|curate|formulate|derive|establish|devise|"
    r"contribute|release|put forward|summari[sz]e|review)s?\b"
    r"|\b(?:termed|dubbed|called|named)\b|\bthe key (?:idea|insight)\b|\bour key insight\b",
    re.IGNORECASE,
)
# contribution verbs that say less about what is new ("we study", "we build upon"): half the weight
_WEAK_CONTRIB = re.compile(
    _SUBJECT + r"(?:build|investigate|study|explore|offer|provide|cover|examine|analy[sz]e)s?\b", re.IGNORECASE
)
_INTENT = re.compile(r"\b(?:aim(?:s|ing)? to|seek(?:s|ing)? to|strive to|we ask|whether)\b", re.IGNORECASE)
_RESULT = re.compile(
    r"\b(?:outperform\w*|surpass\w*|achiev\w*|improv(?:e|es|ed|ement|ements)\b|reduc(?:es|ed|tion)\b|"
    r"speed-?ups?|faster|state-of-the-art|sota|boost\w*|gains?\b|consistently|significantly|substantially|"
    r"competitive|superior|"
    r"yield(?:s|ing)? (?:an? )?(?:consistent|significant|substantial|better|higher|lower|improve\w*|gains?|\d)|"
    r"(?:results|experiments|evaluations?|analys[ie]s|tests|studies|ablations?)\b[^.]{0,60}?"
    r"\b(?:show|demonstrate|indicate|reveal|confirm|suggest)\w*|"
    r"we (?:show|demonstrate|find|observe|prove|verify|confirm)\b)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"[+-]?\d+(?:\.\d+)?\$?\s?\\?(?:%|x\b|×|times\b|-?fold\b)"  # 2.55x, +4.2%, $4.13$\%
    r"|\bfrom\s+[\d.]+%?\s+to\s+[\d.]+"
    r"|[\d.]+\s*(?:->|→)\s*[\d.]+"
    r"|\b(?:FID|FVD|PSNR|SSIM|LPIPS|BLEU|ROUGE|mAP|AP|IoU|accuracy|F1|ASR|success rates?|FPS)\b[^.]{0,20}?\d"
    r"|\b\d+(?:\.\d+)?\s*(?:ms|s|hz|fps|db|gb|mb|k|m|b)\b",
    re.IGNORECASE,
)
_COMPARE = re.compile(
    r"\b(?:than|unlike (?:earlier|prior|previous|existing|other)|compared (?:to|with)|relative|versus|vs\.?|"
    r"over (?:the )?(?:baselines?|prior|previous|existing|state))\b",
    re.IGNORECASE,
)
_BACKGROUND = re.compile(
    r"^(?:however|yet|but|although|though|while|despite|unfortunately|nevertheless)\b"
    r"|\b(?:however|yet remains?|have (?:emerged|shown|become|gained)|is a (?:fundamental|critical|key|central)|"
    r"has (?:attracted|become)|recent (?:advances|progress|works?|years|approaches)|"
    r"remains? (?:a |an )?(?:\w+ )?(?:challeng|limited|difficult|open|unclear|elusive|costly|problem|bottleneck)|"
    r"(?:existing|current|prior|previous|conventional|most)\b[^.]{0,40}?\b(?:methods|approaches|works|models|systems|"
    r"tokenizers|pipelines|policies|optimizations|tokens|techniques)\b[^.]{0,80}?\b(?:suffer|lack|struggle|fail|"
    r"rely|require|are limited|often|typically|typi cally|only|still|remain|lose))",
    re.IGNORECASE,
)
_BOILER = re.compile(
    r"https?://|\bgithub\.io\b|\b(?:code|codes|models?|data|dataset|videos?|demos?|results?|visuali[sz]ations?)\b"
    r"[^.]{0,40}\b(?:available|released?|public|open-?sourced?)\b|\bproject (?:page|website)\b|\bbest viewed\b|"
    r"\bwe (?:will )?(?:release|open-source)\b|\bwe hope\b|\bopen(?:s|ing)? new possibilities\b|"
    r"\bwill be (?:made )?(?:publicly )?(?:available|released)\b|\bfuture (?:research|work|directions)\b",
    re.IGNORECASE,
)
_STOP = frozenset({"the", "a", "an", "of", "and", "to", "in", "on", "for", "we", "is"})


@dataclass(frozen=True)
class Scored:
    index: int
    text: str
    score: float
    contribution: bool
    result: bool


def score_sentences(sentences: list[str]) -> list[Scored]:
    """Every sentence with its score and cue flags (see the module docstring)."""
    n = len(sentences)
    out: list[Scored] = []
    first_contribution_seen = False
    for i, s in enumerate(sentences):
        strong = bool(_CONTRIB.search(s))
        contribution = strong or bool(_WEAK_CONTRIB.search(s))
        result = bool(_RESULT.search(s))
        score = 0.0
        score += (2.0 if strong else 1.0) if contribution else 0.0
        if strong and not first_contribution_seen:
            score += 1.0  # the sentence that names the paper's method ("we introduce ActionFlow")
            first_contribution_seen = True
        if _INTENT.search(s):
            score -= 1.5
        score += 2.5 if result else 0.0
        nums = len(_NUMBER.findall(s))
        if nums:
            score += min(3.0, 1.5 + 0.5 * (nums - 1))
        if _COMPARE.search(s):
            score += 0.5
        if _BACKGROUND.search(s):
            score -= 2.0
        if _BOILER.search(s):
            score -= 4.0
        if i == 0 and n > 1:
            score -= 1.5
        if n > 2 and i >= 0.6 * n:
            score += 0.3
        if len(s.split()) < 6:
            score -= 1.0
        out.append(Scored(i, s, score, contribution, result))
    return out


def _words(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower())) - _STOP


def _similar(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.6


def key_findings(abstract: str, *, k: int = 3) -> list[str]:
    """Up to `k` key sentences of `abstract`, in abstract order; at least one for a non-empty abstract."""
    sentences = split_sentences(clean_abstract(abstract or ""))
    if not sentences or k <= 0:
        return []
    scored = score_sentences(sentences)
    qualified = [s for s in scored if s.score > 0]
    chosen: list[Scored] = []

    def take(c: Scored) -> None:
        if len(chosen) < k and c not in chosen and not any(_similar(c.text, x.text) for x in chosen):
            chosen.append(c)

    by_score = sorted(qualified, key=lambda s: (-s.score, s.index))
    for flag in ("contribution", "result"):
        best = next((s for s in by_score if getattr(s, flag)), None)
        if best:
            take(best)
    for s in by_score:
        take(s)
    if not chosen:
        rest = [s for s in scored if s.index > 0 and not _BOILER.search(s.text)] or scored
        chosen = [max(rest, key=lambda s: (s.score, -s.index))]
    return [s.text for s in sorted(chosen, key=lambda s: s.index)]
