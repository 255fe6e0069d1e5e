"""JSON-constrained decoding: the grammar on every token of the vocabulary (llama-cpp-python) vs on the chosen token
first (`rag.llm.grammar_last`, what llama.cpp's own sampler does), on paperrag's own logged calls.

    python bench/json_decoding.py --home /tmp/bench-home                  # the last 28 card-field calls logged there
    python bench/json_decoding.py --home H --prompt compare_aspect --n 12 --gguf 0.5b

Replays the logged calls (same messages in the same order, so llama.cpp's prefix reuse is what the product gets;
same max_tokens and JSON schema; temperature 0) through two `llama_cpp.Llama`s loaded alike, alternately: one
samples with llama-cpp-python's own chain, the other with `grammar_last.install`. Reports seconds per call, the
decoding rate after the first token, the share of tokens the grammar rejected, and whether the outputs are
identical (they must be: for greedy decoding only the cost differs). Ends with one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.prompt_lookup import logged_calls  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True, help="a data home whose llm_calls hold the calls to replay")
    ap.add_argument("--prompt", default="card_field", help="prompt id of the calls to replay")
    ap.add_argument("--n", type=int, default=28)
    ap.add_argument("--gguf", default="1.5b", help="1.5b, 0.5b or a GGUF path")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import StoppingCriteriaList, llama_chat_format

    from bench.digest import resolve_gguf
    from paperrag.settings import Settings
    from rag.llm import grammar_last
    from rag.llm.llamacpp_backend import LOAD_SETTINGS, _grammar, default_threads

    calls = [c for c in logged_calls(args.home, args.prompt, args.n * 4) if c["params"].get("json_mode")][-args.n:]
    if not calls:
        sys.exit(f"no logged JSON-mode {args.prompt} calls in {args.home / 'catalog.sqlite'}")
    gguf = resolve_gguf(args.gguf, Settings())
    threads = args.threads or default_threads()
    common = dict(model_path=gguf, n_ctx=8192, n_threads=threads, n_threads_batch=threads, verbose=False,
                  **LOAD_SETTINGS)
    models = {"chain": llama_cpp.Llama(**common), "grammar_last": llama_cpp.Llama(**common)}
    grammar_last.install(models["grammar_last"])
    seconds: dict[str, list[float]] = {k: [] for k in models}
    decode_rate: dict[str, list[float]] = {k: [] for k in models}
    outputs: dict[str, list[str]] = {k: [] for k in models}
    sampled = rejected = 0
    for i, call in enumerate(calls, 1):
        prompt = llama_chat_format.format_chatml(call["messages"]).prompt
        p = call["params"]
        for name, llm in models.items():
            first: list[float] = []

            def timer(_ids, _logits, first=first):
                if not first:
                    first.append(time.perf_counter())
                return False

            t = time.perf_counter()
            out = llm.create_completion(prompt, max_tokens=p.get("max_tokens") or 128, temperature=0.0,
                                        stop=["<|im_end|>"], grammar=_grammar(p["json_mode"]),
                                        stopping_criteria=StoppingCriteriaList([timer]))
            end = time.perf_counter()
            seconds[name].append(end - t)
            n = int(out["usage"]["completion_tokens"])
            if first and n > 1:
                decode_rate[name].append((n - 1) / (end - first[0]))
            outputs[name].append(out["choices"][0]["text"])
            if name == "grammar_last":
                sampled += llm._sampler.tokens
                rejected += llm._sampler.rejected
        print(f"{i:>3}/{len(calls)}  chain {seconds['chain'][-1]:6.2f}s  grammar_last {seconds['grammar_last'][-1]:6.2f}s"
              f"  same={outputs['chain'][-1] == outputs['grammar_last'][-1]}", flush=True)
    total = {k: round(sum(v), 2) for k, v in seconds.items()}
    rate = {k: round(statistics.median(v), 2) if v else None for k, v in decode_rate.items()}
    figures = {
        "model": Path(gguf).stem, "prompt": args.prompt, "calls": len(calls), "threads": threads,
        "chain_s": total["chain"], "grammar_last_s": total["grammar_last"],
        "grammar_last_over_chain": round(total["grammar_last"] / total["chain"], 3) if total["chain"] else None,
        "decode_tok_s_chain": rate["chain"], "decode_tok_s_grammar_last": rate["grammar_last"],
        "tokens_sampled": sampled, "rejected_share": round(rejected / sampled, 3) if sampled else None,
        "identical_outputs": sum(a == b for a, b in zip(outputs["chain"], outputs["grammar_last"], strict=True)),
        "load_avg": os.getloadavg(),
    }
    print(f"\n{args.prompt}: {len(calls)} calls, grammar in the chain {total['chain']} s, grammar last "
          f"{total['grammar_last']} s (x{figures['grammar_last_over_chain']}); decoding median {rate['chain']} → "
          f"{rate['grammar_last']} tok/s; {figures['rejected_share']} of tokens rejected; identical outputs "
          f"{figures['identical_outputs']}/{len(calls)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
