"""`paperrag ui` in its own process on a free 127.0.0.1 port, asked through gradio_client (what a browser's
session does: the queue, the streamed /ask events). Used by the fault tests and by bench/load.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASK_ARGS = ("", "", [], [], "", "auto")  # filters: none (as test_ui_app's gradio_client calls)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebApp:
    def __init__(self, env: dict, *, deadline_s: float = 900, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log or Path(env["PAPERRAG_HOME"]).parent / f"ui-{self.port}.log"
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "ui", "--port", str(self.port)], cwd=REPO,
                                     env=env, stdout=self._out, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self._wait_ready(deadline_s)

    def _wait_ready(self, deadline_s: float) -> None:
        """Poll the page until it answers 200 (a deadline, not a sleep: the app loads torch, Chroma, gradio)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"paperrag ui exited ({self.proc.returncode}): {self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                try:  # the poll interval: waiting on the process, so that its death ends the wait at once
                    self.proc.wait(timeout=0.25)
                except subprocess.TimeoutExpired:
                    pass
        raise AssertionError(f"paperrag ui not up after {deadline_s} s: {self.output()[-3000:]}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str, bytes]:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=60) as r:
            return r.status, r.headers.get("content-type", ""), r.read()

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=60)
        self._out.close()


def ask(client, question: str, timeout: float = 300) -> tuple[str, str]:
    """(the answer's text, the sources panel) of one question in `client`'s session."""
    chat, sources, *_ = client.predict(question, *ASK_ARGS, api_name="/ask")
    content = chat[-1]["content"] if chat else ""
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    assert chat and chat[-1]["role"] == "assistant", chat
    return str(content), str(sources)
