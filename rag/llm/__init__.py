"""The LLM seam (DESIGN.md › Seams › LLM).

    llm = Library(settings).llm                   # auto: Ollama if up and has the model, else llama.cpp
                                                  # (the Library calls rag.llm.select.get_llm once)
    r = llm.chat(messages, max_tokens=256, purpose="answer", prompt_id="answer", prompt_version="3")
    r.text, r.finish_reason, r.tokens_in, r.tokens_out, r.latency_s, r.first_token_s
    s = llm.stream(messages); for piece in s: ...; s.result   # ChatResult after the loop

Every call made through the Library's LLM is logged in catalog.sqlite › llm_calls (`count_calls(db, purpose=…)`).
Errors: LLMError > LLMUnavailable | ModelMissing | LLMTimeout | ContextOverflow | ModelInstallError.
Backends are imported lazily (llama_cpp is optional).
"""

from indexes.call_log import count_calls, recent_calls
from rag.llm.base import (
    LLM,
    ChatResult,
    ChatStream,
    ContextOverflow,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    ModelInstallError,
    ModelMissing,
)
from rag.llm.doctor import DoctorReport, run_doctor
from rag.llm.logged import LoggedLLM
from rag.llm.models import MODELS, default_gguf, install_model
from rag.llm.select import choose_backend, get_llm

__all__ = [
    "LLM",
    "ChatResult",
    "ChatStream",
    "DoctorReport",
    "ContextOverflow",
    "LLMError",
    "LLMTimeout",
    "LLMUnavailable",
    "LoggedLLM",
    "MODELS",
    "ModelInstallError",
    "ModelMissing",
    "choose_backend",
    "count_calls",
    "default_gguf",
    "get_llm",
    "install_model",
    "recent_calls",
    "run_doctor",
]

