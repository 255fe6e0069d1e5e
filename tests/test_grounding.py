"""Grounding an answer in numbered sentences: splitting as it streams, reading pointers, backing checks, and
quotes verified against the parsed page text."""

from __future__ import annotations

import pytest
from fakes.corpus import Paper, build_corpus
from fakes.data import SPARSE

from paperrag.library import Library
from rag.grounding import (
    attribute,
    ground,
    is_refusal,
    missing_premise,
    parse_cites,
    pop_sentences,
    premise_terms,
)
from rag.quotes import (
    Candidate,
    PageTexts,
    Quote,
    normalise,
    numbers,
    title_quote,
    unbacked,
)


def q(text: str, page: int = 3, key: str = "2405.00001v1") -> Quote:
    return Quote(key, key.split("v")[0], 1, page, text, "Sparse Widget Attention")


def cands(*texts: str) -> list[Candidate]:
    return [Candidate(i, q(t, page=i + 1)) for i, t in enumerate(texts, 1)]


def test_sentences_end_at_marks_not_at_decimals_or_abbreviations_and_keep_their_citations():
    done, rest = pop_sentences("It reaches 28.4 BLEU, e.g. on WMT [1]. Training took 3.5 days [2][3]. And")
    assert done == ["It reaches 28.4 BLEU, e.g. on WMT [1].", "Training took 3.5 days [2][3]."] and rest == " And"
    done, rest = pop_sentences("It reaches 28.4 BLEU. [1]")  # citations after the mark: wait for more text
    assert done == [] and rest == "It reaches 28.4 BLEU. [1]"
    assert pop_sentences("It reaches 28.4 BLEU. [1]", final=True) == (["It reaches 28.4 BLEU. [1]"], "")
    assert pop_sentences("训练用了3.5天【2】。模型")[0] == ["训练用了3.5天【2】。"]
    assert pop_sentences("- first point [1]\n- second")[0] == ["- first point [1]"]


def test_pointers_in_every_spelling_the_model_uses():
    assert parse_cites("It keeps 64 keys [2][5].") == ("It keeps 64 keys.", [2, 5])
    assert parse_cites("[3] It keeps 64 keys.") == ("It keeps 64 keys.", [3])
    assert parse_cites("It keeps 64 keys [Sentence 4, 6] and [7-9].")[1] == [4, 6, 7, 8, 9]
    assert parse_cites("模型保留64个键【2】。") == ("模型保留64个键。", [2])
    assert parse_cites("No pointers here (see Table 2).") == ("No pointers here (see Table 2).", [])


def test_numbers_and_names_must_be_in_the_quotes():
    quotes = [q("The big model reaches 28.4 BLEU on the WMT 2014 English-to-German task.")]
    assert unbacked("It reaches 28.4 BLEU on WMT 2014.", quotes) == []
    assert unbacked("It reaches 28.40 BLEU.", quotes) == []  # trailing zeros are the same number
    assert unbacked("It reaches 29.1 BLEU on WMT 2014.", quotes) == ["29.1"]
    assert unbacked("It beats GPT-2 on WMT.", quotes) == ["gpt-2"]
    assert unbacked("How does it do on ImageNet?", quotes, also="ImageNet") == []
    assert numbers("[3] 4,500 samples and −1.50 loss") == {"4500", "1.50", "1.5"}
    assert unbacked("准确率为87.3%，使用GPT-3模型。", quotes) == ["87.3", "gpt-3"]  # glued to Chinese, still checked


def test_a_chinese_list_of_years_is_not_one_number_and_spelled_numbers_back_their_digits():
    # seen in a digest run: "（Haddaway，2021，2020）" was read as the number 2021202 and the span rejected
    assert numbers("（Kingsley 等，2011；Gusenbauer 和 Haddaway，2021，2020）") == {"2011", "2021", "2020"}
    assert numbers("4,500 and 1,000,000") == {"4500", "1000000"}
    dates = [q("All of these papers were published between June 2018 and September 2022.")]
    assert unbacked("这些论文发表于 2018 年 6 月到 2022 年 9 月之间。", dates) == []  # months as numbers
    assert unbacked("这些论文发表于 2018 年 7 月。", dates) == ["7"]
    layers = [q("The encoder is a stack of six identical layers, and we may use it in March.")]
    assert unbacked("编码器由 6 个相同的层组成。", layers) == []
    assert unbacked("编码器由 8 个相同的层组成。", layers) == ["8"]
    assert unbacked("它在 3 月和 5 月使用。", layers) == ["3", "5"]  # "may"/"march" are months only before a year


def test_a_quantity_written_with_a_magnitude_backs_the_same_quantity_in_other_units():
    # seen in a digest run: ZeRO's "1K GPUs" written as "1,000 个 GPU" was rejected as a number not in the quotes
    zero = [q("ZeRO can train models with over 100B parameters on 1K GPUs, and 1.5 billion for one GPU.")]
    assert unbacked("ZeRO 可在 1,000 个 GPU 上训练超过 1000 亿参数的模型。", zero) == []
    assert unbacked("单个 GPU 可训练 15 亿参数的模型。", zero) == []
    assert unbacked("ZeRO 可在 2,000 个 GPU 上训练。", zero) == ["2000"]  # another quantity is still caught
    assert unbacked("单个 GPU 可训练 16 亿参数。", zero) == ["16 亿"]
    # seen in a digest run: "∼100B parameters" written as "100 亿参数" (10^10): its digits are in the quote, the
    # quantity is not
    assert unbacked("ZeRO 可训练 100 亿参数的模型。", zero) == ["100 亿"]
    assert unbacked("ZeRO 可训练 100B 参数的模型。", zero) == []
    assert unbacked("It uses 3 tokens.", [q("It uses 3M tokens.")]) == []  # the digits themselves still back
    # seen on the dev QA set: a table's score "48.2" became "48.2M parameters"; a magnitude is a claim of its own
    scores = [q("Fusion-in-Decoder (base) 48.2 65.0 77.1 53.4 60.6")]
    assert unbacked("The base model has 48.2M parameters.", scores) == ["48.2M"]
    assert unbacked("The base model has 48.2 million parameters.", scores) == ["48.2 million"]
    assert unbacked("It fine-tunes T5-11B on 2 T4 GPUs.", [q("We fine-tune T5-11B on two T4 GPUs.")]) == []
    assert unbacked("Wikipedia is split into 21 million documents.", [q("Wikipedia: a total of 21M documents.")]) == []
    assert unbacked("ZeRO trains 100 billion parameters on 1 thousand GPUs.", zero) == []
    assert unbacked("ZeRO trains 100 million parameters.", zero) == ["100 million"]
    faster = [q("It is an order of\nmagnitude faster and doubles the batch.")]
    assert unbacked("它快 10 倍，批量大小增加到 2 倍。", faster) == []
    assert unbacked("它大 10 倍。", [q("It is an order-of-magnitude larger.")]) == []
    assert unbacked("它快 100 倍。", faster) == ["100"]


def test_english_magnitudes_are_given_to_a_chinese_span_in_chinese_units_and_glued_digits_back_themselves():
    from rag.quotes import in_chinese_units

    # seen in a digest run: "19.6 billion FLOPs" written "19.6 亿", "4.5 million sentence pairs" written "4.5 亿"
    assert in_chinese_units("VGG-19 (19.6 billion FLOPs), 4.5 million pairs") == "VGG-19 (196亿 FLOPs), 450万 pairs"
    assert in_chinese_units("∼100B parameters (e.g., T5-11B) on 1K GPUs") == "∼1000亿 parameters (e.g., T5-11B) on 1000 GPUs"
    assert in_chinese_units("a 5 m wall, 3.5 days, BERT-B") == "a 5 m wall, 3.5 days, BERT-B"
    assert in_chinese_units("(e.g., T5- 11B [4]), - 5M") == "(e.g., T5- 11B [4]), - 500万"  # seen: "T5-110 亿"
    vgg = [q("Left: the VGG-19 model [41] (19.6 billion FLOPs) as a reference.")]
    assert unbacked("VGG-19 模型（196亿 FLOPs）", vgg) == [] and unbacked("VGG-19（19.6 亿 FLOPs）", vgg) == ["19.6 亿"]
    wmt = [q("We report newstest2013 for development and newstest2014, unlike T5- 11B.")]
    assert unbacked("开发集为 newstest 2013，测试集为 2014，不同于 T5-11B。", wmt) == []
    assert unbacked("测试集为 2015。", wmt) == ["2015"]


def test_a_generic_acronym_is_not_an_invented_name():
    # seen in a digest run: "64 Tesla V100 32Gb" written as "64 块 Tesla V100 GPU" was rejected for "GPU"
    v100 = [q("We train the model for 10k gradient steps, using 64 Tesla V100 32Gb.")]
    assert unbacked("模型在 64 块 Tesla V100 GPU 上训练 10,000 步。", v100) == []  # GPU: a kind, not a name
    assert unbacked("模型在 64 块 NVIDIA Tesla V100 GPU 上训练。", v100) == ["nvidia"]


def test_a_sentence_is_published_only_when_its_quotes_back_it():
    c = cands("Training took 3.5 days on 8 P100 GPUs.", "The big model reaches 28.4 BLEU on WMT 2014.")
    ok = ground("It trained for 3.5 days on 8 P100 GPUs [1].", c)
    assert ok.published and ok.cited == [1] and not ok.corrected
    assert ok.rendered() == f"It trained for 3.5 days on 8 P100 GPUs {c[0].quote.label}."
    fixed = ground("It reaches 28.4 BLEU [1].", c)  # right claim, wrong pointer
    assert fixed.published and fixed.corrected and fixed.cited == [2]
    bad = ground("It reaches 31.2 BLEU [2].", c)
    assert not bad.published and "31.2" in bad.problem
    assert not ground("It is a strong model.", c).published  # cites nothing and matches nothing
    assert ground("The papers do not mention the batch size [2].", c).refusal
    assert is_refusal("论文中没有提到学习率。") and not is_refusal("It reaches 28.4 BLEU.")


def test_attribute_covers_every_number_or_gives_up():
    c = cands("Training took 3.5 days on 8 P100 GPUs.", "The big model reaches 28.4 BLEU on WMT 2014.")
    assert [x.n for x in attribute("28.4 BLEU after 3.5 days", c)] == [1, 2]
    assert attribute("28.4 BLEU after 9 days", c) == []
    # never from two papers: REALM's "all three benchmarks" and another paper's "TriviaQA" do not make a claim
    realm = [Candidate(1, q("REALM outperforms all previous systems on all three benchmarks.", key="2002.08909v1")),
             Candidate(2, q("Passages are retrieved with DPR for NQ and TriviaQA.", key="2007.01282v2"))]
    assert attribute("REALM outperforms all previous systems on TriviaQA.", realm) == []
    assert [x.n for x in attribute("REALM outperforms all previous systems.", realm)] == [1]


def test_a_name_only_a_paper_title_holds_is_backed_by_that_papers_title_only():
    # seen on the dev QA set: "REALM's Wikipedia knowledge corpus contains 21M documents [1]", with the 21M from
    # RAG's sentence and "REALM" only in REALM's title: code must not move the claim onto RAG's quote
    realm = Quote("2002.08909v1", "2002.08909", 1, 3, "We experiment with two choices of the pre-training corpus.",
                  "REALM: Retrieval-Augmented Language Model Pre-Training")
    rag = Quote("2005.11401v1", "2005.11401", 1, 3, "Each article is split into chunks, to make a total of 21M "
                "documents.", "Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks")
    c = [Candidate(1, realm), Candidate(2, rag)]
    wrong = ground("REALM's Wikipedia knowledge corpus contains 21M documents [1].", c)
    assert not wrong.published and "21M" in wrong.problem
    assert not ground("REALM's Wikipedia knowledge corpus contains 21M documents [2].", c).published
    assert attribute("REALM's corpus contains 21M documents.", c) == []
    assert ground("Each article is split into 21M documents [2].", c).published
    # nor does code move a quantity onto a sentence that only holds its digits
    scores = [Candidate(1, q("Fusion-in-Decoder (base) 48.2 65.0 77.1 53.4 60.6"))]
    assert attribute("The base model has 48.2M parameters.", scores) == []
    assert not ground("The base model has 48.2M parameters.", scores).published
    assert ground("The base model scores 48.2 [1].", scores).published
    named = ground("REALM pre-trains on two choices of corpus [1].", c)  # its own title backs the name
    assert named.published and named.quotes == [realm]


@pytest.fixture(scope="module")
def paper(tmp_path_factory, embedder):
    corpus = build_corpus(tmp_path_factory.mktemp("quotes"), embedder, [
        Paper("a", "Sparse Widget Attention", "2405.00001", seed=21, sections=[("4 Sparse attention", SPARSE)])])
    return Library(corpus.settings, embedder=embedder), corpus.keys[0]


def test_quotes_are_verified_against_the_parsed_text_of_their_page(paper):
    lib, key = paper
    texts = PageTexts(lib.catalog, lib.pdf_cache)
    page = texts.locate(key, "keeps only the 64 highest-scoring keys for every query")
    assert page is not None
    sentence = next(s for s in normalise(texts.pages(key)[page]).split(". ") if "64 highest" in s)
    assert texts.verify(Quote(key, "2405.00001", 1, page, sentence))
    assert not texts.verify(Quote(key, "2405.00001", 1, page + 1, sentence))  # right words, wrong page
    assert not texts.verify(Quote(key, "2405.00001", 1, page, sentence.replace("64", "65")))
    assert not texts.verify(Quote("2405.99999v1", "2405.99999", 1, page, sentence))  # unknown paper


def test_pointers_alone_publish_the_quote_itself_and_the_question_lends_no_names():
    c = cands("Training took 3.5 days on 8 P100 GPUs.", "The big model reaches 28.4 BLEU on WMT 2014.")
    only = ground("[2]", c)
    assert only.published and only.text == f"“{c[1].quote.text}”" and only.cited == [2]
    premise = ground("It reaches 28.4 BLEU on CIFAR-10 [2].", c)  # CIFAR-10 came from the question, not a quote
    assert not premise.published and "cifar-10" in premise.problem


def test_a_premise_no_passage_mentions_is_caught_before_the_model():
    q = "What exact match does REALM reach on the TriviaQA benchmark?"
    assert premise_terms(q) == ["REALM", "TriviaQA"]
    assert missing_premise(q, ["REALM: Retrieval-Augmented Language Model Pre-Training › 4 Experiments\nOn "
                                "NaturalQuestions REALM reaches 40.4 exact match."]) == ["TriviaQA"]
    assert missing_premise("Which paper proposes a masked language model retriever?", ["anything"]) == []


def test_a_hyphenated_premise_is_mentioned_however_its_parts_are_joined():
    """"English-French" (a translation's wording) is the paper's "English-to-French"; "English-Chinese" is not."""
    paper = ["On the WMT 2014 English-to-French translation task, our big model achieves a BLEU score of 41.0."]
    assert missing_premise("What BLEU does the big model reach on WMT 2014 English-French?", paper) == []
    assert missing_premise("What BLEU does it reach on WMT 2014 English–French?", paper) == []
    assert missing_premise("What BLEU does the big model reach on WMT 2014 English-Chinese?", paper) == [
        "English-Chinese"]
    assert missing_premise("What BLEU does it reach on WMT English-French-German?", paper) == ["English-French-German"]


def test_a_name_with_a_generic_suffix_rests_on_its_head():
    """"FlashAttention-based Transformers" (dev set) names FlashAttention: the premise is the head, and an answer
    repeating "FlashAttention-based" is backed by a quote naming FlashAttention; a short head stands for nothing."""
    paper = ["FlashAttention lets Transformers reach 61.4 accuracy on Path-X."]
    q = "What accuracy do FlashAttention-based Transformers reach on Path-X?"
    assert missing_premise(q, paper) == []
    assert missing_premise(q.replace("FlashAttention", "RingAttention"), paper) == ["RingAttention-based"]
    assert missing_premise("Is the Kernel IO-aware on Path-X?", ["The kernel reads the input once on Path-X."]) == [
        "IO-aware"]
    c = cands("FlashAttention achieves 61.4 accuracy on Path-X.")
    assert unbacked("FlashAttention-based Transformers reach 61.4 on Path-X.", [c[0].quote]) == []
    assert unbacked("RingAttention-based Transformers reach 61.4 on Path-X.", [c[0].quote]) == ["ringattention-based"]


class _Pages:
    def __init__(self, pages):
        self._pages = {p: normalise(t) for p, t in pages.items()}

    def pages(self, paper_key):
        return self._pages


def test_the_title_is_quoted_as_the_first_pages_print_it():
    """A which-paper answer names the title: its quote is the title in the page's own casing, found across a line
    break, a hyphen that ends a line and a ligature; only the first two pages are searched."""
    q = Quote("2205.14135v2", "2205.14135", 2, 4, "We propose FlashAttention.",
              title="FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness")
    texts = _Pages({1: "FlashAttention: Fast and Memory-\nEﬃcient Exact Attention\nwith IO-Awareness\nTri Dao",
                    4: "We propose FlashAttention."})
    t = title_quote(texts, q)
    assert t.page == 1 and t.text == "FlashAttention: Fast and Memory- Efficient Exact Attention with IO-Awareness"
    assert t.text in texts.pages("")[1] and t.paper_key == q.paper_key and t.version == 2

    vit = Quote("2010.11929v2", "2010.11929", 2, 5, "x", title="An Image is Worth 16x16 Words")
    cover = _Pages({1: "Journal of Vision cover page", 2: "Published at ICLR\nAN IMAGE IS WORTH 16X16 WORDS:\nTRANS"})
    assert title_quote(cover, vit).text == "AN IMAGE IS WORTH 16X16 WORDS" and title_quote(cover, vit).page == 2
    assert title_quote(_Pages({1: "a", 2: "b", 3: "An Image is Worth 16x16 Words"}), vit) is None  # too late
    assert title_quote(_Pages({1: "An Image is Worth 16x16 Wordsmiths"}), vit) is None  # whole words only
    assert title_quote(_Pages({1: "An Image is Worth 16x16 Words"}),
                       Quote("k", "2010.11929", 1, 1, "x", title=vit.title, abstract_only=True)) is None
