"""Helpers of the fault-injection suite: the CLI in its own process, bounded in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env(home: Path, tmp_path: Path, **extra: str) -> dict:
    env = {**os.environ, "PAPERRAG_HOME": str(home), "PAPERRAG_CONFIG": str(tmp_path / "none.toml"),
           "PAPERRAG_LLM__MODEL_CACHE": str(tmp_path / "model-cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200"}
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """`paperrag ARGS` in its own process, bounded by `timeout` (a hang fails the test instead of stalling it)."""
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_stopped_at(proc: subprocess.Popen, marker: Path) -> None:
    """Block until `proc` stopped itself at its fault point (it wrote `marker`, then SIGSTOPped). A stop that is
    not its own (a job-control or benchmark SIGSTOP on this shared machine) is continued and waited out."""
    while True:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        if os.WIFSTOPPED(status) and marker.exists():
            return
        if not os.WIFSTOPPED(status):
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the process ended before its fault point: {err[-2000:]}")
        os.kill(proc.pid, signal.SIGCONT)


_MEASURED = (
    "import atexit, os, resource, sys\n"
    "atexit.register(lambda: open(os.environ['PAPERRAG_PEAK_RSS_FILE'], 'w').write(\n"
    "    str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
    "from ui.cli import main\n"
    "sys.argv = ['paperrag', *sys.argv[1:]]\n"
    "main()\n"
)


def run_cli_measured(args: list[str], env: dict, *, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """`run_cli`, plus the process's peak resident memory in MB (its own ru_maxrss, written when it exits)."""
    home = Path(env["PAPERRAG_HOME"])
    rss_file = home.parent / f"peak-rss-{home.name}"
    rss_file.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], cwd=REPO,
                          env={**env, "PAPERRAG_PEAK_RSS_FILE": str(rss_file)}, capture_output=True, text=True,
                          timeout=timeout)
    return proc, int(rss_file.read_text()) / 1024
