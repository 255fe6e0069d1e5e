"""A long-lived reader process, as the web app is: one Library, commands on stdin, one JSON line per answer.

    search QUERY        {"ok": true, "papers": [top 5], "present": rows with a vector, "rows": n,
                         "chunks": {paper: chunk rows the reader's index holds}}
    ask QUERY           {"ok": true, "answer": "...", "sentences": n}      (llm.backend from the environment)
    loop N QUERY        N searches back to back: {"ok": true, "errors": [...], "seen": [[paper, chunks], ...]}
    quit

Any exception is {"ok": false, "error": "<user_message>"} — the line a user would have been shown.
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def main() -> None:
    from paperrag.errors import user_message
    from paperrag.library import Library

    lib = Library()
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(" ")
        try:
            if cmd == "quit":
                break
            if cmd == "search":
                out = _search(lib, rest)
            elif cmd == "ask":
                stream = lib.ask(rest)
                answer = "".join(stream)
                out = {"ok": True, "answer": answer, "sentences": len(stream.result.sentences)}
            elif cmd == "loop":
                n, _, query = rest.partition(" ")
                errors, seen = [], set()
                for _ in range(int(n)):
                    try:
                        got = _search(lib, query)
                        seen.update(got["chunks"].items())
                        if got["present"] != got["rows"]:
                            errors.append(f"{got['rows'] - got['present']} rows without a vector")
                    except Exception as exc:  # noqa: BLE001 - what a user would see
                        errors.append(user_message(exc))
                out = {"ok": True, "errors": errors, "seen": sorted(seen), "searches": int(n)}
            else:
                out = {"ok": False, "error": f"unknown command {cmd}"}
        except Exception as exc:  # noqa: BLE001
            out = {"ok": False, "error": user_message(exc)}
        print(json.dumps(out), flush=True)
    lib.close()


def _search(lib, query: str) -> dict:
    hits = lib.search(query, k=5)
    st = lib.retriever.refresh()
    present = int(st.dense.present.sum()) if st.dense is not None else 0
    counts = Counter(st.index.paper_keys[i] for i in st.index.paper_idx)
    return {"ok": True, "papers": [h.paper_key for h in hits], "present": present, "rows": st.index.n_rows,
            "chunks": dict(counts)}


if __name__ == "__main__":
    main()
