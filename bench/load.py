"""Load: 20 concurrent Ask sessions plus one digest regeneration loop against `paperrag ui` (its own process, the
fake LLM backend) for a fixed time, over the bundled sample day (ingested and digested first, through the CLI).

Each session is a gradio_client Client (its own queue session, streamed /ask events); one more client regenerates
the sample day's digest back to back. The server's resident memory is sampled every second and at every 10% of
the requests. Prints errors, p50/p95 latency, RSS at start (after warm-up) / middle / end and the slope after
warm-up; the last line is one JSON object.

    python bench/load.py                         # 600 s, 20 sessions
    python bench/load.py --duration 60 --sessions 5
    python bench/load.py --requests 6            # each session asks 6 questions, then stops (the test's mode)
    python bench/load.py --compare               # the same load on two servers at once, side by side: the app as
                                                 # shipped and one with glibc's malloc defaults
                                                 # (PAPERRAG_MALLOC_TUNING=0, see ui/memory.py)

Memory growth is reported per minute and per 100 answers (a least-squares slope of the server's RSS over the
answers completed, after warm-up): on a shared machine the second does not depend on how fast the run went.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from faults.harness import cli_env, run_cli  # noqa: E402
from faults.webapp import WebApp, ask  # noqa: E402

DAY = "2025-01-20"  # the bundled sample day
QUESTIONS = [
    "What does LongEval recommend for human evaluation of long-form summaries?",
    "How many annotators do the guidelines suggest?",
    "Which datasets are used in the experiments?",
    "What is the main finding about partial annotation?",
    "How is inter-annotator agreement measured?",
]
WARMUP_SHARE = 0.2  # the first 20% of the run (time or requests) is warm-up: caches fill, models load


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x of (x, y) samples."""
    if len(samples) < 3:
        return 0.0
    xs, ys = [x for x, _ in samples], [y for _, y in samples]
    x0, y0 = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - x0) ** 2 for x in xs)
    return sum((x - x0) * (y - y0) for x, y in zip(xs, ys)) / den if den else 0.0


def prepare(root: Path) -> Path:
    home = root / "home"
    env = cli_env(home, root, PAPERRAG_LLM__BACKEND="fake")
    for args in (["ingest", "--sample"], ["daily", "--sample"]):
        done = run_cli(args, env, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"paperrag {' '.join(args)} failed: {done.stderr[-2000:]}")
    return home


def run(args, root: Path, home: Path, **env: str) -> dict:
    app = WebApp(cli_env(home, root, PAPERRAG_LLM__BACKEND="fake", **env))
    pid = app.proc.pid
    total = args.sessions * args.requests if args.requests else 0
    stop = threading.Event()
    lock = threading.Lock()
    latencies: list[tuple[float, float]] = []  # (t since start at the end of the answer, seconds)
    errors: list[str] = []
    regen = {"n": 0, "errors": [], "seconds": []}
    by_time: list[tuple[float, float]] = []
    by_progress: list[tuple[float, float]] = []
    try:
        clients = [app.client() for _ in range(args.sessions)]
        regen_client = app.client()
        t_start = time.monotonic()
        deadline = t_start + args.duration

        def sample_by_time():
            while not stop.is_set():
                by_time.append((time.monotonic() - t_start, rss_mb(pid)))
                stop.wait(args.sample_s)

        def checkpoint():
            if total and len(latencies) % max(1, total // 10) == 0:
                by_progress.append((len(latencies) / total, rss_mb(pid)))

        def session(i: int):
            n = 0
            while not stop.is_set() and (n < args.requests if args.requests else time.monotonic() < deadline):
                q = QUESTIONS[(i + n) % len(QUESTIONS)]
                t0 = time.monotonic()
                try:
                    answer, _ = ask(clients[i], f"{q} (session {i}, question {n})")
                    if "⚠" in answer:
                        raise RuntimeError(answer[-300:])
                    with lock:
                        done_at = time.monotonic()
                        latencies.append((done_at - t_start, done_at - t0))
                        checkpoint()
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"session {i}: {type(exc).__name__}: {str(exc)[:300]}")
                n += 1

        def regenerate():
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    summary, *_ = regen_client.predict(None, DAY, ["report", "table"], "en",
                                                         api_name="/regenerate")
                    if "rewritten" not in str(summary):
                        raise RuntimeError(str(summary)[:300])
                    regen["seconds"].append(time.monotonic() - t0)
                except Exception as exc:  # noqa: BLE001
                    regen["errors"].append(f"{type(exc).__name__}: {str(exc)[:300]}")
                regen["n"] += 1

        sampler = threading.Thread(target=sample_by_time, daemon=True)
        sampler.start()
        regen_thread = threading.Thread(target=regenerate, daemon=True)
        regen_thread.start()
        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            list(pool.map(session, range(args.sessions)))
        stop.set()
        regen_thread.join(timeout=600)
        sampler.join(timeout=10)
        elapsed = time.monotonic() - t_start
        server_tracebacks = app.output().count("Traceback")
    finally:
        stop.set()
        app.close()

    warm_t = WARMUP_SHARE * elapsed
    after = [(t, m) for t, m in by_time if t >= warm_t] or by_time
    done_times = sorted(t for t, _ in latencies)
    by_answers = [(bisect.bisect_right(done_times, t), m) for t, m in after]  # (answers done by then, RSS)
    mid = min(after, key=lambda s: abs(s[0] - (warm_t + elapsed) / 2))
    lat = [s for _, s in latencies]
    out = {
        "bench": "load", "sessions": args.sessions, "duration_s": round(elapsed, 1),
        "mode": f"{args.requests} requests per session" if args.requests else f"{args.duration} s",
        "asks": len(latencies), "ask_errors": len(errors), "regenerations": regen["n"],
        "regen_errors": len(regen["errors"]), "server_tracebacks": server_tracebacks,
        "p50_s": round(statistics.median(lat), 3) if lat else None, "p95_s": round(percentile(lat, 0.95), 3),
        "max_s": round(max(lat), 3) if lat else None,
        "regen_p50_s": round(statistics.median(regen["seconds"]), 2) if regen["seconds"] else None,
        "throughput_per_s": round(len(lat) / elapsed, 2) if elapsed else None,
        "rss_mb": {"first": round(by_time[0][1], 1) if by_time else None,
                   "after_warmup": round(after[0][1], 1), "middle": round(mid[1], 1), "end": round(after[-1][1], 1),
                   "max_after_warmup": round(max(m for _, m in after), 1)},
        "rss_slope_mb_per_min_after_warmup": round(60 * slope(after), 2),
        "rss_slope_mb_per_100_answers_after_warmup": round(100 * slope(by_answers), 2),
        "rss_by_progress": [(round(f, 2), round(m, 1)) for f, m in by_progress],
        "errors_sample": (errors + regen["errors"])[:5],
    }
    return out


def report(out: dict, label: str = "") -> None:
    r = out["rss_mb"]
    print(f"{label}{out['asks']} questions from {out['sessions']} sessions + {out['regenerations']} digest "
          f"regenerations in {out['duration_s']} s ({out['mode']})")
    print(f"{label}errors: asks {out['ask_errors']}, regenerations {out['regen_errors']}, server tracebacks "
          f"{out['server_tracebacks']}")
    print(f"{label}ask latency p50 {out['p50_s']} s · p95 {out['p95_s']} s · max {out['max_s']} s · "
          f"{out['throughput_per_s']} answers/s; regeneration p50 {out['regen_p50_s']} s")
    print(f"{label}server RSS: first {r['first']} MB, after warm-up {r['after_warmup']} MB, middle {r['middle']} MB, "
          f"end {r['end']} MB (max {r['max_after_warmup']}); slope after warm-up "
          f"{out['rss_slope_mb_per_min_after_warmup']} MB/min, "
          f"{out['rss_slope_mb_per_100_answers_after_warmup']} MB per 100 answers")
    for e in out["errors_sample"]:
        print(f"{label}  error:", e)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    ap.add_argument("--sessions", type=int, default=20, help="concurrent Ask sessions (default 20)")
    ap.add_argument("--requests", type=int, default=0, help="questions per session instead of a duration")
    ap.add_argument("--sample-s", type=float, default=1.0, help="RSS sampling interval")
    ap.add_argument("--compare", action="store_true",
                    help="also run, at the same time, a server with glibc's malloc defaults; print both and ratios")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench stops its server too (finally)
    root = Path(tempfile.mkdtemp(prefix="paperrag-load-"))
    try:
        home = prepare(root)
        if not args.compare:
            out = run(args, root, home)
            report(out)
            print(json.dumps(out))
            return
        control_root = root / "control"
        shutil.copytree(home, control_root / "home", symlinks=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            tuned = pool.submit(run, args, root, home)
            control = pool.submit(run, args, control_root, control_root / "home", PAPERRAG_MALLOC_TUNING="0")
            tuned, control = tuned.result(), control.result()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(tuned, "[tuned]   ")
    report(control, "[default] ")
    key_min, key_100 = "rss_slope_mb_per_min_after_warmup", "rss_slope_mb_per_100_answers_after_warmup"
    growth = {k: round(o["rss_mb"]["end"] - o["rss_mb"]["after_warmup"], 1) for k, o in
              (("tuned", tuned), ("default", control))}
    ratios = {"slope_per_100_answers_tuned_over_default": ratio(tuned[key_100], control[key_100]),
              "slope_per_min_tuned_over_default": ratio(tuned[key_min], control[key_min]),
              "end_rss_tuned_over_default": ratio(tuned["rss_mb"]["end"], control["rss_mb"]["end"]),
              "growth_after_warmup_mb": growth}
    print(f"side by side: RSS slope per 100 answers {tuned[key_100]} vs {control[key_100]} MB "
          f"(tuned/default {ratios['slope_per_100_answers_tuned_over_default']}); per minute {tuned[key_min]} vs "
          f"{control[key_min]} MB; end RSS {tuned['rss_mb']['end']} vs {control['rss_mb']['end']} MB; growth after "
          f"warm-up {growth['tuned']} vs {growth['default']} MB")
    print(json.dumps({"bench": "load", "compare": True, "tuned": tuned, "default": control, "ratios": ratios}))


if __name__ == "__main__":
    main()
