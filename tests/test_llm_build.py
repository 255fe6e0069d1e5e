"""The llama.cpp build for the CPU it runs on, the checks at load, and KV-cache reuse across calls."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fakes.models import small_gguf

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("llama_cpp_build", REPO / "scripts" / "llama_cpp_build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

SAPPHIRE = ("flags : fpu sse4_2 avx f16c fma avx2 bmi2 avx_vnni avx512f avx512dq avx512cd avx512bw avx512vl "
            "avx512vbmi avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8")
HASWELL = "flags : fpu sse4_2 avx f16c fma avx2 bmi2"
OLD = "flags : fpu sse4_2 avx"


@pytest.fixture(autouse=True)
def x86(monkeypatch):
    monkeypatch.setattr(build.platform, "machine", lambda: "x86_64")


def test_avx512_cpus_get_avx512_but_never_amx():
    flags = build.cpu_flags(SAPPHIRE)
    args = build.cmake_args(flags)
    for on in ("GGML_AVX2=ON", "GGML_AVX512=ON", "GGML_AVX512_VNNI=ON", "GGML_AVX512_BF16=ON", "GGML_AVX512_VBMI=ON"):
        assert f"-D{on}" in args
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args and "AMX_INT8=ON" not in args
    assert build.tag(flags) == "x86-avx2-avxvnni-avx512-vbmi-vnni-bf16"


def test_a_lower_cpu_gets_a_lower_build_in_its_own_wheel_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    high, low, old = (build.cpu_flags(c) for c in (SAPPHIRE, HASWELL, OLD))
    assert "-DGGML_AVX512=OFF" in build.cmake_args(low) and "-DGGML_AVX2=ON" in build.cmake_args(low)
    assert build.cmake_args(old) == build.PORTABLE and build.tag(old) == "portable"  # no AVX2: ggml's own default
    dirs = {build.wheel_dir(f) for f in (high, low, old)}
    assert len(dirs) == 3 and all(d.parent == tmp_path / "paperrag" / "llama-wheels" for d in dirs)


def test_avx512_needs_its_foundation_flags():
    partial = build.cpu_flags("flags : avx f16c fma avx2 bmi2 avx512f avx512_vnni")  # no BW/DQ/VL: not AVX-512
    assert not any(o.startswith("GGML_AVX512") for o in build.enabled(partial))


def test_a_truncated_or_foreign_gguf_is_one_line(tmp_path):
    from rag.llm import models as M
    from rag.llm.base import ModelMissing
    from rag.llm.llamacpp_backend import check_gguf

    bundled = tmp_path / M.MODELS[M.SMALL_MODEL].filename
    bundled.write_bytes(b"GGUF" + b"\0" * 100)
    (tmp_path / (bundled.name + ".sha256")).write_text(f"{'0' * 64}  4096  1  {bundled.name}\n")
    with pytest.raises(ModelMissing, match="104 bytes but was installed with 4096: the file is truncated"):
        check_gguf(bundled)
    html = tmp_path / "model.gguf"
    html.write_bytes(b"<html>")
    with pytest.raises(ModelMissing, match="is not a GGUF file"):
        check_gguf(html)
    mine = tmp_path / "mine.gguf"  # a user's own GGUF without a stamp: only the magic is checked
    mine.write_bytes(b"GGUF" + b"\0" * 10)
    check_gguf(mine)


def test_doctor_says_which_cpu_features_the_build_uses(home, monkeypatch):
    from paperrag import Library

    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    rep = Library().doctor(measure=False)
    if rep.llama_cpp_version is None:
        pytest.skip("llama-cpp-python is not installed")
    assert "AVX2" in rep.llama_cpp_cpu.split() and rep.llama_cpp_threads >= 1
    assert "CPU features used: " in rep.render()


def test_consecutive_calls_sharing_a_prefix_reuse_the_kv_cache():
    """llama-cpp-python keeps the longest common prefix of consecutive prompts: the second call evaluates only
    what follows the shared part (counted at llama.cpp's eval, not timed)."""
    from rag.llm.llamacpp_backend import LlamaCppLLM, load_model

    backend = LlamaCppLLM(small_gguf(), context_tokens=4096, max_tokens=4, temperature=0.0)
    llm = load_model(backend.gguf_path, backend.context_tokens, backend.threads)[0]
    shared = " ".join(["the retrieval model reads every passage of the paper before it answers"] * 40)
    evaluated: list[int] = []
    real_eval = llm.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return real_eval(tokens)

    llm.eval = counting_eval
    try:
        first = backend.chat([{"role": "system", "content": shared}, {"role": "user", "content": "Question one?"}])
        n_first = sum(evaluated)
        evaluated.clear()
        second = backend.chat([{"role": "system", "content": shared}, {"role": "user", "content": "Why two?"}])
        n_second = sum(evaluated)
    finally:
        llm.eval = real_eval
    assert first.tokens_in > 400 and second.tokens_in > 400
    assert n_second < 0.1 * second.tokens_in, (n_first, n_second, second.tokens_in)  # the prefix was not re-read
