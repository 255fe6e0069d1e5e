"""The embedded model's speed: through paperrag's backend vs a bare `llama_cpp.Llama` (the floor), and the build
this machine's set-up made vs the portable AVX2 build, side by side in one run.

    python bench/llm.py                                  # both bundled models, this venv's llama.cpp build
    python bench/llm.py --models 0.5b --portable-wheel ~/.cache/pip/.../llama_cpp_python-0.3.36-*.whl

Per model: prompt processing (tok/s) for 512 / 1,500 / 4,000-token prompts, generation (tok/s, 128 tokens
after a short prompt and after a 1,500-token one), and the KV-cache reuse case (time to the first token of the
second of two calls sharing a 1,500-token prefix). "floor" is a bare Llama with the same load settings, measured
by a streamed `create_completion` on the same ChatML prompt, alternately with the backend (best of two each),
so a load change on a shared machine hits both alike; "portable" is the floor in a subprocess importing the
portable wheel. The KV cache is reset before every measurement but the reuse case. Ends with one JSON object
on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PP_SIZES = (512, 1500, 4000)
GEN_TOKENS = 128
WORDS = ("model attention retrieval corpus latency token window index paper method result table figure "
         "baseline dataset training inference memory gradient encoder decoder layer benchmark").split()


def text_of(n_words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def prompt_of_tokens(llm, n_tokens: int, seed: int) -> str:
    """Synthetic text of about n_tokens tokens for this model's tokenizer."""
    words = n_tokens
    for _ in range(6):
        text = text_of(words, seed)
        got = len(llm.tokenize(text.encode(), add_bos=False))
        if abs(got - n_tokens) <= 8:
            break
        words = max(8, int(words * n_tokens / max(got, 1)))
    return text


COUNT = "Write the numbers from 1 to 400 separated by commas: "


def _bare_llm(gguf: str, threads: int, n_ctx: int, load: dict):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    llm = llama_cpp.Llama(model_path=gguf, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False,
                          chat_format="chatml", **load)
    llm.create_completion("warm up", max_tokens=2, temperature=0.0)
    return llm


def _chatml(user: str, system: str = "") -> str:
    sys_part = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    return f"{sys_part}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def _timed_stream(llm, prompt: str, max_tokens: int) -> tuple[int, float, float]:
    """(tokens generated, seconds to the first token, total seconds) of a streamed bare completion."""
    t0 = time.perf_counter()
    first, n = None, 0
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        if first is None:
            first = time.perf_counter() - t0
        n += 1
    return n, first or 0.0, time.perf_counter() - t0


def bare_measure(llm, what: str, n: int, seed: int) -> float:
    """One figure of the floor: prompt tok/s for an n-token prompt ("pp"), or generation tok/s after an n-token
    prompt ("tg"), by a bare streamed create_completion on the same ChatML prompt the backend builds."""
    llm.reset()
    if what == "pp":
        prompt = _chatml(prompt_of_tokens(llm, n, seed))
        tokens = len(llm.tokenize(prompt.encode()))
        _, first, _ = _timed_stream(llm, prompt, 1)
        return tokens / first
    prompt = _chatml((prompt_of_tokens(llm, n, seed) + "\n" if n > 64 else "") + COUNT)
    got, first, total = _timed_stream(llm, prompt, GEN_TOKENS)
    return (got - 1) / (total - first)


def backend_measure(backend, llm, what: str, n: int, seed: int) -> float:
    """The same figure through paperrag's LlamaCppLLM."""
    llm.reset()
    if what == "pp":
        r = backend.chat([{"role": "user", "content": prompt_of_tokens(llm, n, seed)}], max_tokens=1)
        return r.tokens_in / r.first_token_s
    user = (prompt_of_tokens(llm, n, seed) + "\n" if n > 64 else "") + COUNT
    r = backend.chat([{"role": "user", "content": user}], max_tokens=GEN_TOKENS)
    return (r.tokens_out - 1) / (r.latency_s - r.first_token_s)


CASES = [("pp", n) for n in PP_SIZES] + [("tg", 0), ("tg", 1500)]


def label(what: str, n: int) -> str:
    return f"pp{n}" if what == "pp" else ("tg_short" if n == 0 else f"tg_after{n}")


def bare(gguf: str, threads: int, n_ctx: int, load: dict, repeats: int = 2) -> dict:
    """Every floor figure (best of `repeats`), for the portable-build subprocess."""
    import llama_cpp

    llm = _bare_llm(gguf, threads, n_ctx, load)
    out: dict = {"system_info": llama_cpp.llama_print_system_info().decode().strip()}
    for what, n in CASES:
        out[label(what, n)] = round(max(bare_measure(llm, what, n, seed=n + r) for r in range(repeats)), 1)
    return out


def side_by_side(gguf: str, threads: int, n_ctx: int, load: dict, repeats: int = 2) -> tuple[dict, dict]:
    """Floor and backend measured alternately on the same prompts (best of `repeats` each), so load changes on a
    shared machine hit both alike."""
    import llama_cpp

    from rag.llm.llamacpp_backend import LlamaCppLLM, load_model

    floor_llm = _bare_llm(gguf, threads, n_ctx, load)
    backend = LlamaCppLLM(gguf, context_tokens=n_ctx, threads=threads, temperature=0.0, max_tokens=GEN_TOKENS)
    llm = load_model(backend.gguf_path, n_ctx, threads)[0]
    backend.chat([{"role": "user", "content": "warm up"}], max_tokens=2)
    floor: dict = {"system_info": llama_cpp.llama_print_system_info().decode().strip()}
    ours: dict = {}
    for what, n in CASES:
        f, p = [], []
        for r in range(repeats):
            f.append(bare_measure(floor_llm, what, n, seed=n + r))
            p.append(backend_measure(backend, llm, what, n, seed=n + r))
        floor[label(what, n)], ours[label(what, n)] = round(max(f), 1), round(max(p), 1)
    shared = prompt_of_tokens(llm, 1500, seed=3000)
    first = backend.chat([{"role": "system", "content": shared}, {"role": "user", "content": "Question one: what?"}],
                         max_tokens=8)
    second = backend.chat([{"role": "system", "content": shared}, {"role": "user", "content": "Question two: why?"}],
                          max_tokens=8)
    ours["kv_first_call_ttft_s"] = round(first.first_token_s, 2)
    ours["kv_second_call_ttft_s"] = round(second.first_token_s, 2)
    del floor_llm
    return floor, ours


def portable_run(wheel: Path, gguf: str, threads: int, n_ctx: int, load: dict) -> dict:
    """`bare` in a subprocess that imports the portable wheel instead of this venv's build."""
    target = Path(tempfile.mkdtemp(prefix="paperrag-portable-llama-"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)
    code = (f"import json, sys; sys.path.insert(0, {str(target)!r}); sys.path.insert(1, {str(REPO)!r});"
            f"from bench.llm import bare; print(json.dumps(bare({gguf!r}, {threads}, {n_ctx}, {load!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


SWEEP = [  # (name, load settings, n_ctx, threads or None = the default); "base" is measured first and last
    ("base", {}, None, None),
    ("n_batch/n_ubatch 256/256", {"n_batch": 256, "n_ubatch": 256}, None, None),
    ("n_batch/n_ubatch 1024/1024", {"n_batch": 1024, "n_ubatch": 1024}, None, None),
    ("n_batch/n_ubatch 2048/512", {"n_batch": 2048, "n_ubatch": 512}, None, None),
    ("flash attention", {"flash_attn": True}, None, None),
    ("n_ctx 2048", {}, 2048, None),
    ("no mmap", {"use_mmap": False}, None, None),
    ("1 thread", {}, None, 1),
    ("base (again)", {}, None, None),
]
SWEEP_CASES = [("pp", 1500), ("tg", 1500)]


def sweep(gguf: str, threads: int, n_ctx: int, base: dict) -> list[dict]:
    """The floor's pp1500 and generation-after-1,500 under each variant of the load settings, one at a time
    (one Llama loaded per variant, one measurement each; "base" first and last shows the drift): which settings
    the backend should use."""
    rows = []
    for name, change, ctx, thr in SWEEP:
        t0 = time.perf_counter()
        llm = _bare_llm(gguf, thr or threads, ctx or n_ctx, {**base, **change})
        load_s = time.perf_counter() - t0
        row = {"variant": name, "load_s": round(load_s, 2)}
        for what, n in SWEEP_CASES:
            row[label(what, n)] = round(bare_measure(llm, what, n, seed=n), 1)
        del llm
        rows.append(row)
        print(f"  {name:<28} load {row['load_s']:>5} s   pp1500 {row['pp1500']:>7} tok/s   "
              f"gen after 1,500 {row['tg_after1500']:>6} tok/s", flush=True)
    return rows


def find_portable_wheel() -> Path | None:
    """The portable build an older set-up left in pip's wheel cache, if any."""
    try:
        listing = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format=abspath",
                                  "llama_cpp_python*"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    paths = [Path(p) for p in listing.split() if p.endswith(".whl")]
    return paths[0] if paths else None


def main() -> None:
    from rag.llm import models as M
    from rag.llm.llamacpp_backend import LOAD_SETTINGS, default_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="0.5b,1.5b", help="comma-separated: 0.5b, 1.5b")
    ap.add_argument("--portable-wheel", type=Path, default=None, help="the portable build's wheel (default: pip's "
                    "wheel cache, if it holds one)")
    ap.add_argument("--threads", type=int, default=0, help="0 = what the backend picks")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--sweep", action="store_true", help="also sweep the load settings (n_batch, flash attention, "
                    "n_ctx, mmap, threads) on the floor of the first model")
    args = ap.parse_args()
    threads = args.threads or default_threads()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperrag" / "models"
    wheel = args.portable_wheel or find_portable_wheel()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")
    figures: dict = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "load": LOAD_SETTINGS,
                     "load_avg_start": os.getloadavg(), "portable_wheel": str(wheel) if wheel else None, "models": {}}
    print(f"{cpu}, {os.cpu_count()} cores, {threads} threads, load settings {LOAD_SETTINGS}", flush=True)
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model = M.get_model(name)
        gguf = cache / model.filename
        if not gguf.exists():
            print(f"{name}: {gguf} not installed (paperrag models install{' --small' if '0.5' in name else ''})")
            continue
        floor, ours = side_by_side(str(gguf), threads, args.n_ctx, LOAD_SETTINGS)
        row = {"floor": floor, "paperrag": ours}
        if wheel is not None:
            row["portable"] = portable_run(wheel, str(gguf), threads, args.n_ctx, {})
        figures["models"][name] = row
        print(f"\n== {model.name}\n{row['floor'].pop('system_info')}")
        if "system_info" in row.get("portable", {}):
            print(f"portable build: {row['portable'].pop('system_info')}")
        keys = [f"pp{n}" for n in PP_SIZES] + ["tg_short", "tg_after1500"]
        print(f"{'tok/s':<12}" + "".join(f"{k:>14}" for k in keys))
        for label in ("floor", "paperrag", "portable"):
            if label in row and "error" not in row[label]:
                print(f"{label:<12}" + "".join(f"{row[label].get(k) or '—':>14}" for k in keys))
        ratios = {}
        for k in keys:
            f, p = row["floor"].get(k), row["paperrag"].get(k)
            if f and p:
                ratios[f"paperrag/floor {k}"] = round(p / f, 3)
            q = row.get("portable", {}).get(k)
            if f and q:
                ratios[f"tuned/portable {k}"] = round(f / q, 3)
        row["ratios"] = ratios
        for k, v in ratios.items():
            print(f"  {k}: {v}")
        print(f"  KV reuse: first call {row['paperrag']['kv_first_call_ttft_s']} s to the first token, the second "
              f"(same 1,500-token prefix) {row['paperrag']['kv_second_call_ttft_s']} s", flush=True)
    if args.sweep:
        name = [m.strip() for m in args.models.split(",") if m.strip()][0]
        gguf = cache / M.get_model(name).filename
        print(f"\n== load-settings sweep, {name} (floor, one measurement per variant; base = {LOAD_SETTINGS}, n_ctx {args.n_ctx})")
        figures["sweep"] = {"model": name, "rows": sweep(str(gguf), threads, args.n_ctx, LOAD_SETTINGS)}
    figures["load_avg_end"] = os.getloadavg()
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
