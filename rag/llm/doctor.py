"""`paperrag doctor` for the LLM seam: what is installed, what is reachable, what would be used, how fast.

`run_doctor(settings)` returns plain data (`DoctorReport`); `report.render()` gives Markdown (readable as-is,
and rich.markdown.Markdown renders it in a terminal).
"""

from __future__ import annotations

import importlib.metadata as md
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.llm.base import LLM, ChatResult, LLMError
from rag.llm.models import (
    MODELS,
    default_gguf,
    installed_models,
    parts_installed,
    verify_gguf,
)

if TYPE_CHECKING:
    from paperrag.settings import Settings

def bench_messages() -> list[dict[str, str]]:
    """The short speed-test prompt; a fresh nonce first, so no backend can reuse a cached prompt prefix."""
    return [
        {"role": "system", "content": f"Session {time.time_ns()}. You are a helpful assistant."},
        {"role": "user", "content": "Write a short paragraph about the history of the printing press."},
    ]


@dataclass
class SpeedResult:
    tokens_in: int | None
    tokens_out: int | None
    first_token_s: float | None
    latency_s: float
    prompt_tokens_per_s: float | None
    gen_tokens_per_s: float | None
    finish_reason: str


@dataclass
class BundledStatus:
    name: str
    parts_installed: bool
    gguf: str | None  # installed file under models_dir
    size_bytes: int | None
    sha_ok: bool | None


@dataclass
class DoctorReport:
    backend_setting: str
    backend: str | None = None  # the one get_llm() picks; None = nothing usable
    reason: str = ""
    problem: str | None = None  # why nothing is usable
    notes: list[str] = field(default_factory=list)
    model: str | None = None
    context_tokens: int = 0
    ollama_host: str = ""
    ollama_reachable: bool = False
    ollama_version: str | None = None
    ollama_models: list[str] = field(default_factory=list)
    ollama_model: str = ""
    ollama_model_present: bool = False
    llama_cpp_version: str | None = None
    llama_cpp_cpu: str | None = None  # instruction sets the installed llama.cpp build uses (AVX2 AVX512 …)
    llama_cpp_threads: int | None = None  # threads the backend runs with (llm.threads, 0 = physical cores)
    gguf_path: str | None = None
    gguf_size_bytes: int | None = None
    gguf_sha_ok: bool | None = None
    bundled: list[BundledStatus] = field(default_factory=list)
    openai_base_url: str = ""
    fake_responses: str | None = None  # llm.backend = fake: the scripted responses file ("" = built-in only)
    fake_scripted: int = 0  # how many scripted responses it holds
    speed: SpeedResult | None = None
    speed_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.backend is not None and self.speed_error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        yes = {True: "yes", False: "no", None: "n/a"}
        lines = ["# LLM doctor", ""]
        if self.backend:
            lines.append(f"**In use:** `{self.backend}` · model `{self.model}` · context {self.context_tokens} "
                         f"tokens — {self.reason}")  # fmt: skip
        else:
            lines.append(f"**No usable LLM backend** (llm.backend = {self.backend_setting}): {self.problem}")
        for n in self.notes:
            lines.append(f"- {n}")
        lines += ["", "## Ollama", f"- host: {self.ollama_host}", f"- reachable: {yes[self.ollama_reachable]}"
                  + (f" (version {self.ollama_version})" if self.ollama_version else "")]  # fmt: skip
        if self.ollama_reachable:
            lines.append(f"- models: {', '.join(self.ollama_models) or '(none)'}")
            lines.append(f"- configured model `{self.ollama_model}` present: {yes[self.ollama_model_present]}"
                         + ("" if self.ollama_model_present else f" — `ollama pull {self.ollama_model}`"))  # fmt: skip
        lines += ["", "## Embedded llama.cpp",
                  f"- llama-cpp-python: {self.llama_cpp_version or 'not installed'}"
                  + (f" · CPU features used: {self.llama_cpp_cpu}" if self.llama_cpp_cpu else "")
                  + (f" · {self.llama_cpp_threads} threads" if self.llama_cpp_threads else ""),
                  f"- GGUF: {self.gguf_path or '(none installed)'}"]  # fmt: skip
        if self.gguf_path:
            size = f"{self.gguf_size_bytes / 1e6:.0f} MB" if self.gguf_size_bytes else "missing"
            lines.append(f"- size: {size} · sha256 ok: {yes[self.gguf_sha_ok]}")
        lines += ["", "| bundled model | parts installed | installed file | sha256 ok |", "|---|---|---|---|"]
        for b in self.bundled:
            lines.append(f"| {b.name} | {yes[b.parts_installed]} | {b.gguf or '—'} | {yes[b.sha_ok]} |")
        if self.openai_base_url:
            lines += ["", "## OpenAI-compatible", f"- base URL: {self.openai_base_url}"]
        if self.fake_responses is not None:
            lines += ["", "## Fake (scripted) backend",
                      "- deterministic answers for tests and demos; no model runs, nothing is generated",
                      f"- scripted responses: {self.fake_responses} ({self.fake_scripted})" if self.fake_responses
                      else "- scripted responses: none (llm.fake_responses not set): built-in answers only"]
        lines += ["", "## Speed"]
        if self.speed:
            s = self.speed
            lines.append(
                f"- prompt: {s.tokens_in} tokens, {_f(s.prompt_tokens_per_s)} tok/s · generation: {s.tokens_out} "
                f"tokens, {_f(s.gen_tokens_per_s)} tok/s · first token {_f(s.first_token_s, 's')} · total "
                f"{_f(s.latency_s, 's')} ({s.finish_reason})"
            )
        elif self.speed_error:
            lines.append(f"- failed: {self.speed_error}")
        else:
            lines.append("- not measured")
        return "\n".join(lines) + "\n"


def _cpu_has(flag: str) -> bool:
    try:
        return any(line.startswith("flags") and flag in line.split() for line in open("/proc/cpuinfo"))
    except OSError:
        return False


def _f(x: float | None, unit: str = "") -> str:
    return "n/a" if x is None else f"{x:.2f}{unit}" if unit else f"{x:.1f}"


def measure_speed(llm: LLM, max_tokens: int = 64, messages: list[dict] | None = None) -> SpeedResult:
    """One short streamed generation (temperature 0); prompt/generation speeds from time-to-first-token."""
    s = llm.stream(messages or bench_messages(), max_tokens=max_tokens, temperature=0.0, purpose="doctor")
    r: ChatResult = s.consume()
    return SpeedResult(
        tokens_in=r.tokens_in,
        tokens_out=r.tokens_out,
        first_token_s=r.first_token_s,
        latency_s=r.latency_s,
        prompt_tokens_per_s=r.prompt_tokens_per_s,
        gen_tokens_per_s=r.gen_tokens_per_s,
        finish_reason=r.finish_reason,
    )


def run_doctor(
    settings: Settings, *, measure: bool = True, max_tokens: int = 64, full_hash: bool = False
) -> DoctorReport:
    """Inspect the LLM setup. `measure=False` skips the short generation; `full_hash=True` re-hashes GGUFs."""
    from rag.llm import ollama_backend as ob
    from rag.llm.select import build_llm, choose_backend

    llm_s = settings.llm
    rep = DoctorReport(backend_setting=llm_s.backend, context_tokens=llm_s.context_tokens,
                       ollama_model=llm_s.ollama_model, openai_base_url=llm_s.openai_base_url)  # fmt: skip
    rep.ollama_host = ob.resolve_host(llm_s)
    rep.ollama_reachable = ob.is_reachable(rep.ollama_host, timeout=1.0)
    if rep.ollama_reachable:
        rep.ollama_version = ob.server_version(rep.ollama_host)
        try:
            rep.ollama_models = ob.list_models(rep.ollama_host)
        except LLMError:
            pass
        rep.ollama_model_present = ob.model_present(llm_s.ollama_model, rep.ollama_models)

    try:
        rep.llama_cpp_version = md.version("llama_cpp_python")
    except md.PackageNotFoundError:
        rep.llama_cpp_version = None
    if rep.llama_cpp_version:
        from rag.llm.llamacpp_backend import cpu_features, default_threads

        try:
            rep.llama_cpp_cpu = cpu_features()
        except LLMError:
            rep.llama_cpp_cpu = None
        rep.llama_cpp_threads = llm_s.threads or default_threads()
        if rep.llama_cpp_cpu is not None and "AVX512" not in rep.llama_cpp_cpu.split() and _cpu_has("avx512f"):
            rep.notes.append("this CPU has AVX-512 but the installed llama.cpp build does not use it: run "
                             "`scripts/setup.sh` again to build it for this CPU (prompt processing ~1.4× faster)")

    found = {**installed_models(settings.legacy_models_dir), **installed_models(settings.models_dir)}
    for m in MODELS.values():
        p = found.get(m.name)
        rep.bundled.append(BundledStatus(
            name=m.name, parts_installed=parts_installed(m), gguf=str(p) if p else None,
            size_bytes=p.stat().st_size if p else None, sha_ok=verify_gguf(p, full=full_hash) if p else None,
        ))  # fmt: skip
    gguf = default_gguf(settings)
    if gguf is not None:
        rep.gguf_path = str(gguf)
        if Path(gguf).is_file():
            rep.gguf_size_bytes = Path(gguf).stat().st_size
            rep.gguf_sha_ok = verify_gguf(Path(gguf), full=full_hash)

    try:
        sel = choose_backend(settings)
    except LLMError as exc:
        rep.problem = str(exc)
        return rep
    rep.backend, rep.reason, rep.notes = sel.backend, sel.reason, sel.notes
    if sel.backend == "fake":
        rep.fake_responses = llm_s.fake_responses
    try:
        llm = build_llm(settings, sel)
        rep.model = llm.model
        rep.fake_scripted = getattr(llm, "scripted", 0) if sel.backend == "fake" else 0
        if measure:
            from rag.llm.logged import LoggedLLM

            rep.speed = measure_speed(LoggedLLM(llm, settings.catalog_path), max_tokens=max_tokens)
            rep.model = llm.model  # an OpenAI server may only now have told us its model
    except LLMError as exc:
        rep.speed_error = str(exc)
    return rep
