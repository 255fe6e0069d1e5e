"""Embedded llama.cpp backend (llama-cpp-python), for when no Ollama server is around.

The GGUF is loaded once per process and kept (cache keyed by path, context size and threads); calls on one
model are serialised by a lock (a llama.cpp context is not thread-safe).

The prompt is rendered with llama-cpp-python's own ChatML formatter (`format_chatml`, the same one
`create_chat_completion(chat_format="chatml")` uses) and run through `create_completion`, because only that
call takes a `stopping_criteria`: it is how the timeout is enforced during generation, the first token is
timed and streamed tokens are counted. The prompt is tokenized first; one that does not leave room for an
answer raises ContextOverflow instead of llama.cpp's ValueError.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.llm import grammar_last, lookup_decoding
from rag.llm.base import (
    BaseLLM,
    ChatOptions,
    ChatResult,
    ContextOverflow,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    Message,
    ModelMissing,
    map_finish_reason,
)
from rag.llm.prefix_states import PrefixStates

if TYPE_CHECKING:
    from paperrag.settings import LLMSettings

_cache: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_cache_lock = threading.Lock()


def _import_llama_cpp() -> Any:
    # llama.cpp's OpenMP worker threads spin between tokens by default; on a shared or small machine that
    # spinning steals the CPU from everyone (measured here: 2 threads on 2 busy cores, 0.7–3 tok/s spinning vs
    # 13–17 tok/s passive). Read by libgomp when llama_cpp loads, so set before the first import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise LLMUnavailable(
            f"llama-cpp-python is not installed ({exc}); install the local wheel: `pip install --no-deps "
            f"llama_cpp_python-*.whl diskcache` or use Ollama (llm.backend = \"ollama\")"
        ) from None
    return llama_cpp


# How every model is loaded (bench/llm.py measures them against a bare Llama and the portable build).
LOAD_SETTINGS: dict[str, Any] = {"n_batch": 512, "n_ubatch": 512, "use_mmap": True}


def _end_of_fixed(prompt: str, messages: list[Message]) -> int:
    """Where, in the ChatML `prompt`, the messages that every call of its prompt shares end (0: none): the worked
    examples after the system message when the prompt file marks them (`Messages.fixed`), else the system
    message alone."""
    if not messages or messages[0].get("role") != "system":
        return 0
    end = 0
    for _ in range(max(getattr(messages, "fixed", 0), 1)):
        at = prompt.find("<|im_end|>", end)
        if at < 0:
            return 0
        end = at + len("<|im_end|>")
    return end


def check_gguf(path: Path) -> None:
    """One clear line for a file that cannot be a complete model: not GGUF, or a bundled model whose size is not
    the one its install stamp recorded (truncated or overwritten since `paperrag models install`)."""
    from rag.llm.models import MODELS, install_hint, stamped_size

    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelMissing(f"GGUF model not readable at {path}: {exc.strerror or exc}; {install_hint()}") from None
    if magic != b"GGUF":
        raise ModelMissing(f"{path} is not a GGUF file (it starts with {magic!r}); {install_hint()}")
    expected = stamped_size(path)
    bundled = any(m.filename == path.name for m in MODELS.values())
    if bundled and expected is not None and expected != size:
        raise ModelMissing(f"{path} is {size} bytes but was installed with {expected}: the file is truncated or was "
                           f"changed; run `paperrag models install` again")


def load_model(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The process-wide `llama_cpp.Llama` for (path, n_ctx, n_threads), loaded on first use."""
    key = (str(Path(path).resolve()), int(n_ctx), int(n_threads))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        if not Path(path).is_file():
            from rag.llm.models import install_hint

            raise ModelMissing(f"GGUF model not found at {path}; {install_hint()}")
        check_gguf(Path(path))
        llama_cpp = _import_llama_cpp()
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=int(n_ctx),
                n_threads=int(n_threads),
                n_threads_batch=int(n_threads),
                chat_format="chatml",
                verbose=False,
                **LOAD_SETTINGS,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"llama.cpp could not load {path}: {exc} (is it a complete GGUF file?)") from None
        grammar_last.install(llm)
        lookup_decoding.install(llm)
        llm._prefix_states = PrefixStates()
        _cache[key] = (llm, threading.Lock())
        return _cache[key]


def unload_all() -> None:
    """Drop every cached model (frees memory; the next call reloads)."""
    with _cache_lock:
        _cache.clear()


def loaded_models() -> list[tuple[str, int, int]]:
    with _cache_lock:
        return list(_cache)


def available_cores() -> int:
    """CPU cores this process may run on (logical: hyper-threads count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores among those this process may run on (llama.cpp gains nothing from a core's second
    hyper-thread: both share one vector unit and the memory bandwidth)."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return available_cores()
    cores = set()
    for cpu in cpus:
        base = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((base / "physical_package_id").read_text().strip() + ":" + (base / "core_id").read_text().strip())
        except OSError:
            return available_cores()
    return max(len(cores), 1)


def default_threads() -> int:
    """llm.threads = 0: one thread per physical core."""
    return physical_cores()


def cpu_features() -> str:
    """What the loaded llama.cpp build uses on this CPU, e.g. "AVX2 AVX512 AVX512_VNNI …" (`paperrag doctor`)."""
    llama_cpp = _import_llama_cpp()
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    on = [part.split("=")[0].strip() for part in info.replace("CPU :", "").split("|") if part.strip().endswith("= 1")]
    return " ".join(f for f in on if f not in ("LLAMAFILE", "OPENMP", "REPACK"))


_grammars: dict[str, Any] = {}


def _grammar(json_mode: bool | dict) -> Any:
    """The GBNF grammar of a JSON reply: any object, or the given JSON schema (e.g. at most 3 sentence numbers:
    a small model asked for "the sentences that state it" otherwise counts 1, 2, 3 … up to the token limit)."""
    import json

    from llama_cpp import llama_grammar

    key = json.dumps(json_mode, sort_keys=True) if isinstance(json_mode, dict) else ""
    if key not in _grammars:
        _grammars[key] = (llama_grammar.LlamaGrammar.from_json_schema(key, verbose=False) if key else
                          llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF, verbose=False))
    return _grammars[key]


class _Watch:
    """Stopping criterion: times the first sampled token, counts sampled tokens, enforces the deadline."""

    def __init__(self, t0: float, timeout_s: float):
        self.t0 = t0
        self.deadline = t0 + timeout_s
        self.first: float | None = None
        self.calls = 0
        self.timed_out = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        now = time.perf_counter()
        if self.first is None:
            self.first = now - self.t0
        self.calls += 1
        if now > self.deadline:
            self.timed_out = True
            return True
        return False


class LlamaCppLLM(BaseLLM):
    backend = "llamacpp"

    def __init__(
        self,
        gguf_path: Path | str,
        *,
        context_tokens: int = 8192,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        timeout_s: float = 600.0,
        threads: int = 0,
        model_name: str | None = None,
    ):
        self.gguf_path = Path(gguf_path).expanduser()
        self.model = model_name or self.gguf_path.stem
        self.context_tokens = int(context_tokens)
        self.default_max_tokens = int(max_tokens)
        self.default_temperature = float(temperature)
        self.timeout_s = float(timeout_s)
        self.threads = int(threads) if threads and threads > 0 else default_threads()
        if not self.gguf_path.is_file():
            from rag.llm.models import install_hint

            raise ModelMissing(f"GGUF model not found at {self.gguf_path}; {install_hint()}")
        _import_llama_cpp()

    @classmethod
    def from_settings(cls, llm: LLMSettings, gguf_path: Path | str) -> LlamaCppLLM:
        return cls(
            gguf_path,
            context_tokens=llm.context_tokens,
            max_tokens=llm.max_output_tokens,
            temperature=llm.temperature,
            timeout_s=llm.timeout_s,
            threads=llm.threads,
        )

    # ------------------------------------------------------------------ helpers
    @property
    def llama(self) -> Any:
        """The loaded llama_cpp.Llama (loads it on first access)."""
        return load_model(self.gguf_path, self.context_tokens, self.threads)[0]

    def _prepare(self, messages: list[Message], opts: ChatOptions, stream: bool, watch: _Watch) -> dict[str, Any]:
        from llama_cpp import StoppingCriteriaList, llama_chat_format

        fmt = llama_chat_format.format_chatml(messages)
        llm = self.llama
        tokens = llm.tokenize(fmt.prompt.encode("utf-8"), add_bos=True, special=True)
        n_prompt = len(tokens)
        if n_prompt >= self.context_tokens:
            raise ContextOverflow(
                f"prompt is {n_prompt} tokens but the context is {self.context_tokens} (llm.context_tokens); "
                f"send fewer passages or raise the context"
            )
        stop = [fmt.stop] if isinstance(fmt.stop, str) else list(fmt.stop or [])
        stop += opts.stop or []
        kw: dict[str, Any] = {
            "prompt": fmt.prompt,
            "max_tokens": opts.max_tokens,  # llama.cpp trims it to what is left of the context
            "temperature": opts.temperature,
            "stop": stop,
            "stream": stream,
            "stopping_criteria": StoppingCriteriaList([watch]),
        }
        if opts.json_mode:
            kw["grammar"] = _grammar(opts.json_mode)
        lookup_decoding.use(llm, on=True)
        # what llama.cpp will keep of its KV cache: the longest common prefix with the previous call's tokens
        # (Llama.generate does the same comparison), or the prompt's fixed messages (its system message and worked
        # examples) put back by `PrefixStates`; logged per call, so prefix reuse is measured, not assumed
        held = llm.longest_token_prefix(llm._input_ids.tolist(), tokens)
        states = getattr(llm, "_prefix_states", None)
        end = _end_of_fixed(fmt.prompt, messages)
        if states is not None and end > 0:
            prefix = llm.tokenize(fmt.prompt[:end].encode("utf-8"), add_bos=True, special=True)
            if tokens[: len(prefix)] == prefix:
                held = max(held, states.prepare(llm, prefix))
        kw["_n_prompt"] = n_prompt
        kw["_n_cached"] = min(held, max(n_prompt - 1, 0))
        return kw

    def _timeout(self) -> LLMTimeout:
        return LLMTimeout(
            f"llama.cpp ({self.gguf_path.name}) did not finish within {self.timeout_s:g} s (llm.timeout_s); "
            f"raise the timeout, lower llm.max_output_tokens or use a smaller model"
        )

    @staticmethod
    def _wrap(exc: BaseException) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        msg = str(exc)
        if "exceed context window" in msg:
            return ContextOverflow(f"llama.cpp: {msg}")
        return LLMError(f"llama.cpp failed: {type(exc).__name__}: {msg[:200]}")

    # ------------------------------------------------------------------ LLM
    def _chat(self, messages: list[Message], opts: ChatOptions) -> ChatResult:
        llm, lock = load_model(self.gguf_path, self.context_tokens, self.threads)
        with lock:
            t0 = time.perf_counter()
            watch = _Watch(t0, self.timeout_s)
            kw = self._prepare(messages, opts, stream=False, watch=watch)
            n_prompt = kw.pop("_n_prompt")
            n_cached = kw.pop("_n_cached")
            try:
                out = llm.create_completion(**kw)
            except Exception as exc:
                raise self._wrap(exc) from None
        if watch.timed_out:
            raise self._timeout()
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return self._result(
            choice.get("text") or "",
            map_finish_reason(choice.get("finish_reason")),
            usage.get("prompt_tokens", n_prompt),
            usage.get("completion_tokens"),
            t0,
            watch.first,
            n_cached,
        )

    def _stream(self, messages: list[Message], opts: ChatOptions) -> Generator[str, None, ChatResult]:
        llm, lock = load_model(self.gguf_path, self.context_tokens, self.threads)
        with lock:  # held while the caller iterates; released when the stream ends or is closed
            t0 = time.perf_counter()
            watch = _Watch(t0, self.timeout_s)
            kw = self._prepare(messages, opts, stream=True, watch=watch)
            n_prompt = kw.pop("_n_prompt")
            n_cached = kw.pop("_n_cached")
            pieces: list[str] = []
            finish: str | None = None
            chunks = None
            try:
                chunks = llm.create_completion(**kw)
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice.get("text") or ""
                    if text:
                        pieces.append(text)
                        yield text
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except GeneratorExit:
                raise
            except Exception as exc:
                raise self._wrap(exc) from None
            finally:
                if chunks is not None:
                    chunks.close()
        if watch.timed_out:
            raise self._timeout()
        # sampled tokens = criterion calls, minus the one extra call after the loop, minus an end-of-turn token
        tokens_out = max(watch.calls - 1 - (1 if finish == "stop" else 0), 0)
        return self._result("".join(pieces), map_finish_reason(finish), n_prompt, tokens_out, t0, watch.first,
                            n_cached)

    # ------------------------------------------------------------------ extras
    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def metadata(self) -> dict[str, str]:
        return dict(self.llama.metadata)
