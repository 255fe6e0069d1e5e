"""ingest.chunking with the real all-MiniLM-L6-v2 tokenizer: windows, no text lost, no section crossing."""

from __future__ import annotations

import random

import pytest
from fakes import pdfs as pf

from ingest.chunking import Chunker, chunk_blocks, chunk_prefix, measure_overflow
from ingest.pdf_parse import parse_pdf
from paperrag.records import Block, Chunk

TITLE = "Widget Networks for Synthetic Reading"

_VOCAB = (
    "widget network layer attention retrieval embedding tokenizer transformer gradient optimizer dataset "
    "benchmark accuracy precision recall baseline ablation hyperparameter convergence regularization "
    "pretraining finetuning inference latency throughput memory bandwidth quantization distillation "
    "interpretability robustness generalization multilingual summarization classification segmentation"
).split()


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(_VOCAB) for _ in range(n)]
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randrange(1, n), f"[{rng.randint(1, 60)}],")
    if rng.random() < 0.2:
        words.insert(rng.randrange(1, n), "e.g.")
    return " ".join(words) + rng.choice([".", ".", ".", "?", "!"])


def _para(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng, rng.randint(6, 30)) for _ in range(sentences))


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    rng = random.Random(7)
    out = [Block(TITLE, 1, ""), Block("Ada Example and Bob Sample", 1, "")]
    out += [Block(_para(rng, 4), 1, "Abstract")]
    sec = "1 Introduction"
    out += [Block(_para(rng, rng.randint(1, 7)), 1 + i // 3, sec) for i in range(9)]
    caption = "Figure 1: A widget network reading a page, with a long caption. " + _para(rng, 2)
    out.append(Block(caption, 2, sec, "caption"))
    out += [Block(_para(rng, 3), 3, sec) for _ in range(2)]  # body resumes after the caption
    sec = "2 Method › 2.1 Details"
    # one paragraph far longer than the window, and a "sentence" without any sentence break
    out.append(Block(_para(rng, 40), 3, sec))
    out.append(Block(" ".join(rng.choice(_VOCAB) for _ in range(400)), 4, sec))
    # a "word" longer than the window: 600 CJK characters, which BERT splits into 600 pieces
    out.append(Block("Chinese text: " + "中" * 600 + " ends here.", 4, sec))
    out.append(Block("Table 2: Tiny.", 4, sec, "caption"))
    out += [
        Block(f"[{i}] A. Author. Paper number {i} about widgets. In Proc. of Widgets, 20{i:02d}.", 5, "References",
              "references")
        for i in range(60)
    ]
    out += [Block(_para(rng, 12), 6, "A Proofs", "appendix")]
    return out


@pytest.fixture(scope="module")
def chunks(blocks, embedder) -> list[Chunk]:
    return chunk_blocks(blocks, title=TITLE, count_tokens=embedder.count_tokens, max_tokens=256, overlap_tokens=32)


def _body(c: Chunk, title: str = TITLE) -> str:
    prefix = chunk_prefix(title, c.section)
    assert c.text.startswith(prefix)
    return c.text[len(prefix) :]


def _is_subsequence(needle: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(w == h for h in it) for w in needle)


def test_every_chunk_fits_the_window_measured_by_the_real_tokenizer(chunks, embedder):
    assert embedder.max_tokens == 256
    counts = embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= 256
    assert [c.n_tokens for c in chunks] == counts  # n_tokens is the real count, specials included
    assert measure_overflow(chunks, embedder.count_tokens, 256) == 0


def test_prefix_title_and_section(chunks):
    for c in chunks:
        if c.section:
            assert c.text.startswith(f"{TITLE} › {c.section}\n")
        else:
            assert c.text.startswith(f"{TITLE}\n") and not c.text.startswith(f"{TITLE} › ")


def test_no_text_lost_and_order_kept(blocks, chunks):
    """Every word of every block appears, in order, in the chunks of its (section, kind)."""
    keys = list(dict.fromkeys((b.section, b.kind) for b in blocks))
    cut = []
    for key in keys:
        need = [w for b in blocks if (b.section, b.kind) == key for w in b.text.split()]
        have = [w for c in chunks if (c.section, c.kind) == key for w in _body(c).split()]
        if not _is_subsequence(need, have):
            # only a word longer than the window may be cut (between characters): compare characters then
            cut.append(key)
            assert _is_subsequence(list("".join(need)), list("".join(have))), f"text lost in {key}"
    assert cut == [("2 Method › 2.1 Details", "body")]


def test_never_crosses_a_section_or_mixes_kinds(blocks, chunks):
    by_key = {}
    for b in blocks:
        by_key.setdefault((b.section, b.kind), set()).update(b.text.split())
    for c in chunks:
        words = set(_body(c).split())
        assert (c.section, c.kind) in by_key
        own = by_key[(c.section, c.kind)]
        # every word must come from a block of the same section and kind (CJK pieces aside)
        assert all(w in own or set(w) == {"中"} for w in words), c.text[:200]
    caps = [c for c in chunks if c.kind == "caption"]
    assert len(caps) == 2
    assert _body(caps[0]).startswith("Figure 1:") and _body(caps[1]) == "Table 2: Tiny."


def test_pages_ordinals_and_order(chunks):
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert 1 <= c.page_start <= c.page_end <= 6
    intro = [c for c in chunks if c.section == "1 Introduction" and c.kind == "body"]
    assert intro[0].page_start == 1 and intro[-1].page_end == 3
    # paper order: title/abstract first, appendix last
    assert chunks[0].section == "" and chunks[-1].section == "A Proofs"


def test_chunks_are_well_filled(chunks):
    """Long sections give chunks near the window; only the last chunk of a run may be short."""
    runs: dict[tuple[str, str], list[Chunk]] = {}
    for c in chunks:
        runs.setdefault((c.section, c.kind), []).append(c)
    full = [c.n_tokens for key, cs in runs.items() if key[1] != "caption" for c in cs[:-1]]
    assert len(full) >= 15
    assert min(full) >= 150
    assert sum(n >= 180 for n in full) / len(full) >= 0.9


def test_consecutive_chunks_overlap(chunks, embedder):
    pairs = 0
    for a, b in zip(chunks, chunks[1:]):
        if (a.section, a.kind) != (b.section, b.kind) or a.kind == "caption":
            continue
        if "中" in a.text or "中" in b.text:
            continue
        aw, bw = _body(a).split(), _body(b).split()
        k = max((k for k in range(1, min(len(aw), len(bw)) + 1) if aw[-k:] == bw[:k]), default=0)
        assert k >= 1, f"no overlap between chunk {a.ordinal} and {b.ordinal}"
        overlap_tokens = embedder.count_tokens([" ".join(bw[:k])])[0] - 2
        assert overlap_tokens <= 48  # ~32, stretched up to 1.5x to start at a sentence start
        pairs += 1
    assert pairs >= 10


def test_sentence_boundaries_preferred(chunks):
    """A chunk of a normal prose run starts at a sentence start (its overlap snaps to one) most of the time."""
    starts = [
        _body(c).split()[0]
        for c in chunks
        if c.section == "1 Introduction" and c.kind == "body"
    ]
    assert sum(w[:1].isupper() or w.startswith("[") for w in starts) >= len(starts) // 2


def test_long_title_prefix_is_shortened_to_fit(embedder):
    title = " ".join(["Extraordinarily"] * 200)
    blocks = [Block("Some text. " * 50, 1, "1 A Section › 1.1 A Subsection")]
    out = chunk_blocks(blocks, title=title, count_tokens=embedder.count_tokens)
    assert out and max(c.n_tokens for c in out) <= 256
    assert measure_overflow(out, embedder.count_tokens, 256) == 0
    assert all(c.text.split("\n", 1)[0].endswith("› 1.1 A Subsection") for c in out)


def test_smaller_window_and_no_overlap(blocks, embedder):
    out = chunk_blocks(blocks, title=TITLE, count_tokens=embedder.count_tokens, max_tokens=128, overlap_tokens=0)
    assert out and max(c.n_tokens for c in out) <= 128
    assert measure_overflow(out, embedder.count_tokens, 128) == 0


def test_non_additive_counter_is_refit():
    """A counter that is not additive over whitespace: the final check re-splits overflowing chunks."""

    def chars(texts: list[str]) -> list[int]:
        return [len(t) // 4 + 2 for t in texts]

    rng = random.Random(3)
    blocks = [Block(_para(rng, 30), 1, "1 Intro"), Block(_para(rng, 30), 2, "2 More")]
    out = chunk_blocks(blocks, title=TITLE, count_tokens=chars, max_tokens=64, overlap_tokens=8)
    assert out and measure_overflow(out, chars, 64) == 0
    assert all(c.n_tokens == chars([c.text])[0] for c in out)
    for b in blocks:
        have = [w for c in out if c.section == b.section for w in _body(c).split()]
        assert _is_subsequence(b.text.split(), have)


def test_measure_overflow_counts_chunks_over_the_window(embedder):
    long = Chunk(text="word " * 400, section="", page_start=1, page_end=1, kind="body", n_tokens=402)
    short = Chunk(text="word", section="", page_start=1, page_end=1, kind="body", n_tokens=3)
    assert measure_overflow([long, short, long], embedder.count_tokens, 256) == 2


def test_empty_and_whitespace_blocks(embedder):
    assert chunk_blocks([], title=TITLE, count_tokens=embedder.count_tokens) == []
    assert chunk_blocks([Block("   ", 1, "")], title=TITLE, count_tokens=embedder.count_tokens) == []


def test_chunker_for_embedder_caps_at_the_model_window(embedder):
    ch = Chunker.for_embedder(embedder, max_tokens=1024)
    assert ch.max_tokens == embedder.max_tokens == 256
    assert Chunker.for_embedder(embedder, max_tokens=200).max_tokens == 200


def test_parsed_pdf_to_chunks_end_to_end(embedder):
    parsed = parse_pdf(pf.two_column_paper())
    out = Chunker.for_embedder(embedder).chunk(parsed.blocks, title=parsed.title)
    assert measure_overflow(out, embedder.count_tokens, 256) == 0
    kinds = {c.kind for c in out}
    assert kinds == {"body", "caption", "references", "appendix"}
    ref = [c for c in out if c.kind == "references"]
    assert ref and all(c.section == "References" and c.page_start == 2 for c in ref)
    for b in parsed.blocks:
        have = [w for c in out if (c.section, c.kind) == (b.section, b.kind) for w in _body(c, parsed.title).split()]
        assert _is_subsequence(b.text.split(), have)


def test_classic_papers_fit_the_window(shared_dir, embedder):
    """Two real papers: 0 chunks over the window, every block's text kept."""
    for name in ("1706.03762.pdf", "resnet.pdf"):
        parsed = parse_pdf(shared_dir / "corpus/pdfs/classic" / name)
        out = Chunker.for_embedder(embedder).chunk(parsed.blocks, title=parsed.title)
        assert measure_overflow(out, embedder.count_tokens, embedder.max_tokens) == 0
        assert sum(c.n_tokens for c in out) / len(out) >= 150
        keys = list(dict.fromkeys((b.section, b.kind) for b in parsed.blocks))
        for key in keys:
            need = [w for b in parsed.blocks if (b.section, b.kind) == key for w in b.text.split()]
            have = [w for c in out if (c.section, c.kind) == key for w in _body(c, parsed.title).split()]
            assert _is_subsequence(need, have), f"{name}: text lost in {key}"


def test_prefix_without_a_title(embedder):
    assert chunk_prefix("", "2 Method") == "2 Method\n"
    assert chunk_prefix("", "") == ""
    out = chunk_blocks([Block("Plain text here.", 1, "2 Method")], title="", count_tokens=embedder.count_tokens)
    assert [c.text for c in out] == ["2 Method\nPlain text here."]


def test_a_table_caption_keeps_its_rows_one_a_line(embedder):
    chunker = Chunker(embedder.count_tokens, max_tokens=256)
    cap = Block(text="Table 2: Accuracy on WidgetBench.\nModel Acc F1\nBaseline 81.5 80.2\nOurs 87.3 86.9",
                page=4, section="5 Experiments", kind="caption")
    body = Block(text="We compare against the baseline of prior work on the same split.", page=4,
                 section="5 Experiments", kind="body")
    chunks = chunker.chunk([body, cap], title="Widget Nets")
    (table,) = [c for c in chunks if c.kind == "caption"]
    assert table.text == ("Widget Nets › 5 Experiments\nTable 2: Accuracy on WidgetBench.\nModel Acc F1\n"
                          "Baseline 81.5 80.2\nOurs 87.3 86.9")
    assert table.page_start == table.page_end == 4
