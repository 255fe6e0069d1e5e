"""KV-cache reuse in paperrag's own call sequences: how much of each call's prompt llama.cpp kept from the call
before it, for `ask` and `compare` (the digest's figure is in bench/digest.py).

    python bench/kv_reuse.py --home /tmp/bench-home            # a home with papers (e.g. bench/digest.py's)
    python bench/kv_reuse.py --home H --asks 8 --gguf 0.5b

llama-cpp-python keeps the longest common prefix of the previous prompt, so a call costs only the tokens after
the prefix it shares with the call before it. Prompts are ordered so that what repeats comes first (the
instructions, then per-paper material, then the question). This runs a sequence as a user would — `--asks`
questions of the dev QA set whose papers are in the home, one after another, then a compare of two papers on
free-form aspects (its per-paper calls one after another) — and reports per prompt id, from the call log
(`llm_calls.tokens_cached`): calls, prompt tokens, tokens reused and their share, and time to the first token
with and without reuse. Ends with one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEVQA = REPO / "bench" / "devqa" / "devqa.jsonl"
ASPECTS = ["training data", "evaluation metric"]


def per_prompt(db: Path, after_id: int) -> dict[str, dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT prompt_id, tokens_in, COALESCE(tokens_cached, 0), first_token_s, latency_s "
                           "FROM llm_calls WHERE id > ? AND outcome = 'ok' ORDER BY id", (after_id,)).fetchall()
    finally:
        con.close()
    out: dict[str, dict] = {}
    for pid, tin, cached, ttft, lat in rows:
        d = out.setdefault(pid or "?", {"calls": 0, "tokens_in": 0, "tokens_reused": 0, "_ttft_reused": [],
                                        "_ttft_cold": [], "_lat": []})
        d["calls"] += 1
        d["tokens_in"] += int(tin or 0)
        d["tokens_reused"] += int(cached or 0)
        d["_lat"].append(float(lat or 0))
        if ttft is not None:
            (d["_ttft_reused"] if cached and tin and cached >= 0.5 * tin else d["_ttft_cold"]).append(float(ttft))
    for d in out.values():
        d["reused_share"] = round(d["tokens_reused"] / d["tokens_in"], 3) if d["tokens_in"] else 0.0
        d["ttft_p50_s_mostly_reused"] = round(statistics.median(d["_ttft_reused"]), 2) if d["_ttft_reused"] else None
        d["ttft_p50_s_cold"] = round(statistics.median(d["_ttft_cold"]), 2) if d["_ttft_cold"] else None
        d["latency_p50_s"] = round(statistics.median(d["_lat"]), 2)
        for k in ("_ttft_reused", "_ttft_cold", "_lat"):
            del d[k]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--gguf", default="1.5b", help="1.5b, 0.5b or a GGUF path")
    ap.add_argument("--asks", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=4096)
    args = ap.parse_args()

    from bench.digest import resolve_gguf
    from indexes.call_log import ensure_table, last_call_id
    from paperrag.library import Library
    from paperrag.settings import Settings

    base = Settings(home=args.home)
    gguf = resolve_gguf(args.gguf, base)
    settings = base.model_copy(update={"llm": base.llm.model_copy(update={
        "backend": "llamacpp", "gguf_path": gguf, "context_tokens": args.context, "threads": args.threads,
        "temperature": 0.0})})
    ensure_table(settings.catalog_path)
    lib = Library(settings)
    have = {p.meta.arxiv_id for p in lib.catalog.papers() if p.status == "indexed"}
    questions = [q for q in map(json.loads, DEVQA.read_text().splitlines())
                 if q.get("question") and set(q.get("papers", [])) <= have and q["type"] != "compare"]
    questions = questions[: args.asks]
    figures: dict = {"gguf": Path(gguf).name, "asks": len(questions)}

    start = last_call_id(settings.catalog_path)
    t = time.perf_counter()
    for q in questions:
        stream = lib.ask(q["question"])
        for _ in stream:
            pass
    figures["ask_seconds"] = round(time.perf_counter() - t, 1)
    figures["ask"] = per_prompt(settings.catalog_path, start)

    pair = sorted(have)[:2]
    start = last_call_id(settings.catalog_path)
    t = time.perf_counter()
    lib.compare(pair, ASPECTS)
    figures["compare_papers"] = pair
    figures["compare_seconds"] = round(time.perf_counter() - t, 1)
    figures["compare"] = per_prompt(settings.catalog_path, start)
    lib.close()

    for seq in ("ask", "compare"):
        print(f"\n== {seq} ({figures[seq + '_seconds']} s)")
        print(f"{'prompt':<22}{'calls':>6}{'tokens in':>11}{'reused':>9}{'share':>7}{'ttft reused':>13}{'ttft cold':>11}")
        for pid, d in figures[seq].items():
            print(f"{pid:<22}{d['calls']:>6}{d['tokens_in']:>11}{d['tokens_reused']:>9}{d['reused_share']:>7}"
                  f"{str(d['ttft_p50_s_mostly_reused']):>13}{str(d['ttft_p50_s_cold']):>11}")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
