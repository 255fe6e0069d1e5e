"""Pick the LLM backend from settings: `get_llm(settings)`.

llm.backend = "auto": Ollama when it answers at the configured host (llm.ollama_host, or $OLLAMA_HOST when
that is not set explicitly) AND has llm.ollama_model; otherwise the embedded llama.cpp model (llm.gguf_path
or the bundled GGUF installed under home/models/). "ollama" / "llamacpp" / "openai" are used as asked;
"fake" is the deterministic scripted backend (rag.llm.fake_backend: no model, for tests and demos), never
picked by "auto".
The returned LLM logs every call to the catalog's llm_calls table unless `log=False`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.llm.base import LLM, LLMError, LLMUnavailable, ModelMissing
from rag.llm.models import (
    DEFAULT_MODEL,
    SMALL_MODEL,
    default_gguf,
    install_hint,
    parts_installed,
)

if TYPE_CHECKING:
    from paperrag.settings import Settings


@dataclass
class Selection:
    backend: str  # "ollama" | "llamacpp" | "openai" | "fake"
    reason: str
    host: str | None = None
    gguf: Path | None = None
    notes: list[str] = field(default_factory=list)  # why other backends were not picked


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _gguf_problem(settings: Settings) -> tuple[Path | None, str | None]:
    """(usable GGUF path, None) or (None, why not + how to fix)."""
    gguf = default_gguf(settings)
    if gguf is None:
        if parts_installed(DEFAULT_MODEL):
            how = "run `paperrag models install`"
        elif parts_installed(SMALL_MODEL):
            how = "run `paperrag models install --small`"
        else:
            how = install_hint()
        return None, f"no GGUF model installed in {settings.models_dir}; {how}"
    if not gguf.is_file():
        return None, f"llm.gguf_path {gguf} does not exist; fix the path or clear it to use the bundled model"
    if not llama_cpp_available():
        return None, (
            "llama-cpp-python is not installed; `pip install --no-deps llama_cpp_python-*.whl` (a local build) "
            "plus diskcache jinja2 numpy typing-extensions"
        )
    return gguf, None


def choose_backend(settings: Settings) -> Selection:
    """Decide which backend `get_llm` would build, without loading a model. Raises LLMUnavailable when
    llm.backend is "auto" and nothing is usable (the message lists what was tried and how to fix each)."""
    from rag.llm.ollama_backend import (
        is_reachable,
        list_models,
        model_present,
        resolve_host,
    )

    llm = settings.llm
    host = resolve_host(llm)
    if llm.backend == "ollama":
        return Selection("ollama", "llm.backend = ollama", host=host)
    if llm.backend == "openai":
        return Selection("openai", "llm.backend = openai")
    if llm.backend == "llamacpp":
        return Selection("llamacpp", "llm.backend = llamacpp", gguf=default_gguf(settings))
    if llm.backend == "fake":
        how = f"scripted responses from {llm.fake_responses}" if llm.fake_responses else "built-in answers"
        return Selection("fake", f"llm.backend = fake (deterministic, no model; {how})")

    notes: list[str] = []
    if is_reachable(host, timeout=1.0):
        try:
            names = list_models(host)
        except LLMError:
            names = []
        if model_present(llm.ollama_model, names):
            return Selection("ollama", f"Ollama reachable at {host} with {llm.ollama_model}", host=host)
        notes.append(f"Ollama at {host} lacks {llm.ollama_model} (`ollama pull {llm.ollama_model}`)")
    else:
        notes.append(f"Ollama not reachable at {host} (`ollama serve`)")

    gguf, problem = _gguf_problem(settings)
    if gguf is not None:
        return Selection("llamacpp", f"embedded llama.cpp with {gguf.name}", host=host, gguf=gguf, notes=notes)
    notes.append(problem or "")
    raise LLMUnavailable("no usable LLM backend: " + "; ".join(n for n in notes if n))


def build_llm(settings: Settings, selection: Selection) -> LLM:
    llm = settings.llm
    if selection.backend == "ollama":
        from rag.llm.ollama_backend import OllamaLLM

        return OllamaLLM.from_settings(llm, selection.host)
    if selection.backend == "openai":
        from rag.llm.openai_backend import OpenAILLM

        return OpenAILLM.from_settings(llm)
    if selection.backend == "llamacpp":
        gguf, problem = _gguf_problem(settings)
        if gguf is None:
            raise (ModelMissing if "llama-cpp-python" not in (problem or "") else LLMUnavailable)(problem or "")
        from rag.llm.llamacpp_backend import LlamaCppLLM

        return LlamaCppLLM.from_settings(llm, gguf)
    if selection.backend == "fake":
        from rag.llm.fake_backend import FakeLLM

        return FakeLLM.from_settings(llm)
    raise LLMUnavailable(f"unknown llm.backend {selection.backend!r}")


def get_llm(settings: Settings, *, log: bool = True) -> LLM:
    """The configured LLM, wrapped so every call lands in `settings.catalog_path` (table llm_calls).
    Product code gets its LLM from the Library (`Library.llm`), which calls this once."""
    inner = build_llm(settings, choose_backend(settings))
    if not log:
        return inner
    from rag.llm.logged import LoggedLLM

    return LoggedLLM(inner, settings.catalog_path)


def model_identity(settings: Settings) -> str:
    """`backend:model` of what `get_llm` would use, without loading it: the cache key of generated artifacts
    (so a fully cached run loads no model at all)."""
    sel = choose_backend(settings)
    if sel.backend == "fake":
        from rag.llm.fake_backend import MODEL

        return f"fake:{MODEL}"
    name = {"ollama": settings.llm.ollama_model, "openai": settings.llm.openai_model}.get(sel.backend) or (
        sel.gguf.stem if sel.gguf else "unknown")
    return f"{sel.backend}:{name}"
