"""Prompt-lookup decoding (`rag.llm.lookup_decoding`) on paperrag's own calls: does it pay?

    python bench/prompt_lookup.py --home /tmp/bench-home               # the last 24 card-field calls logged there
    python bench/prompt_lookup.py --home H --prompt digest_span --n 12 --gguf 0.5b

Prompt lookup drafts the next tokens by copying what followed the same n-gram earlier in the prompt, so it can
only pay on outputs that copy from their input — card values are phrases copied from numbered sentences, the
best case in the product. This replays the logged calls (same messages, same order, so llama.cpp's prefix reuse
is what the product gets, same max_tokens, JSON grammar, temperature 0) through two `llama_cpp.Llama`s loaded
alike and both sampling as the product does (`grammar_last`), one with lookup decoding installed, alternately,
and reports wall seconds per call for both, the ratio, and whether the greedy outputs are identical (they
should be: lookup only changes how many tokens are checked per forward pass; batched and single-token passes
may round differently). Ends with one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def logged_calls(home: Path, prompt_id: str, n: int) -> list[dict]:
    con = sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True)
    rows = con.execute("SELECT messages, params FROM llm_calls WHERE prompt_id = ? AND outcome = 'ok' "
                       "ORDER BY id DESC LIMIT ?", (prompt_id, n)).fetchall()
    con.close()
    return [{"messages": json.loads(m), "params": json.loads(p or "{}")} for m, p in reversed(rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True, help="a data home whose llm_calls hold the calls to replay")
    ap.add_argument("--prompt", default="card_field", help="prompt id of the calls to replay")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--gguf", default="1.5b", help="1.5b, 0.5b or a GGUF path")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--pred-tokens", type=int, default=10, help="draft length (at most lookup_decoding.DRAFT_TOKENS)")
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import llama_chat_format

    from bench.digest import resolve_gguf
    from paperrag.settings import Settings
    from rag.llm import grammar_last, lookup_decoding
    from rag.llm.llamacpp_backend import LOAD_SETTINGS, _grammar, default_threads

    calls = logged_calls(args.home, args.prompt, args.n)
    if not calls:
        sys.exit(f"no logged {args.prompt} calls in {args.home / 'catalog.sqlite'}")
    gguf = resolve_gguf(args.gguf, Settings())
    threads = args.threads or default_threads()
    common = dict(model_path=gguf, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False,
                  **LOAD_SETTINGS)
    models = {"plain": llama_cpp.Llama(**common), "lookup": llama_cpp.Llama(**common)}
    for llm in models.values():
        grammar_last.install(llm)  # both sample as the product does
    lookup_decoding.install(models["lookup"], args.pred_tokens)
    seconds: dict[str, list[float]] = {k: [] for k in models}
    outputs: dict[str, list[str]] = {k: [] for k in models}
    tokens_out: list[int] = []
    for i, call in enumerate(calls, 1):
        prompt = llama_chat_format.format_chatml(call["messages"]).prompt
        p = call["params"]
        lookup_decoding.use(models["lookup"], on=True)  # on every call, JSON or not, to measure it everywhere
        for name, llm in models.items():
            kw = {"max_tokens": p.get("max_tokens") or 128, "temperature": 0.0, "stop": ["<|im_end|>"]}
            if p.get("json_mode"):
                kw["grammar"] = _grammar(p["json_mode"])
            t = time.perf_counter()
            out = llm.create_completion(prompt, **kw)
            seconds[name].append(time.perf_counter() - t)
            outputs[name].append(out["choices"][0]["text"])
            if name == "plain":
                tokens_out.append(int(out["usage"]["completion_tokens"]))
        print(f"{i:>3}/{len(calls)}  plain {seconds['plain'][-1]:6.2f}s  lookup {seconds['lookup'][-1]:6.2f}s  "
              f"{tokens_out[-1]:>4} tok  same={outputs['plain'][-1] == outputs['lookup'][-1]}", flush=True)
    total = {k: round(sum(v), 2) for k, v in seconds.items()}
    figures = {
        "model": Path(gguf).stem, "prompt": args.prompt, "calls": len(calls), "threads": threads,
        "pred_tokens": args.pred_tokens, "tokens_out_mean": round(statistics.mean(tokens_out), 1),
        "plain_s": total["plain"], "lookup_s": total["lookup"],
        "lookup_over_plain": round(total["lookup"] / total["plain"], 3) if total["plain"] else None,
        "drafted_tokens": models["lookup"]._prompt_lookup.drafted,
        "accepted_tokens": models["lookup"]._prompt_lookup.accepted,
        "identical_outputs": sum(a == b for a, b in zip(outputs["plain"], outputs["lookup"], strict=True)),
        "load_avg": os.getloadavg(),
    }
    print(f"\n{args.prompt}: {len(calls)} calls, plain {total['plain']} s, prompt lookup {total['lookup']} s "
          f"(x{figures['lookup_over_plain']}), identical outputs {figures['identical_outputs']}/{len(calls)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
