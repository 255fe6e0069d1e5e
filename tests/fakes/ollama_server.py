"""A small Ollama-protocol HTTP server for tests (127.0.0.1, port 0, one thread per request).

Implements GET /api/tags, GET /api/version, POST /api/show, /api/chat (NDJSON stream or one JSON object,
with done_reason / prompt_eval_count / eval_count / durations), /api/embed. Replies are computed by
`reply(request_body) -> str` (default: echoes the options and the last user message, so a test can check
what was sent); the reply is cut to `num_predict` words with done_reason "length".

Failure modes, all switched by the test:
    srv.hold()        the next /api/chat waits for srv.release() before sending its first byte (slow server)
    srv.die_after = n a streamed /api/chat sends n chunks, then drops the connection mid-body
    srv.models        which models exist (others → 404 "model ... not found, try pulling it first")

    with OllamaTestServer(models=["qwen2.5:7b-instruct"]) as srv:
        OllamaLLM("qwen2.5:7b-instruct", srv.url)...
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str]


def echo_reply(body: dict[str, Any]) -> str:
    opts = body.get("options") or {}
    last = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    fmt = body.get("format")
    if fmt == "json":
        return json.dumps({"echo": last, "num_ctx": opts.get("num_ctx")})
    return f"num_ctx={opts.get('num_ctx')} temperature={opts.get('temperature')} you said: {last}"


def _words(text: str) -> list[str]:
    """Split keeping separators, so that "".join(pieces) == text."""
    out: list[str] = []
    cur = ""
    for ch in text:
        cur += ch
        if ch == " ":
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


class OllamaTestServer:
    def __init__(self, models: list[str] | tuple[str, ...] = ("qwen2.5:7b-instruct",), reply: Reply = echo_reply):
        self.models = list(models)
        self.reply = reply
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, json body)
        self.die_after: int | None = None
        self.version = "0.9.0-test"
        self._gate: threading.Event | None = None
        self.waiting = threading.Event()  # set when a held request is waiting on the gate
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> OllamaTestServer:
        server = self

        class Handler(_Handler):
            srv = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ollama-test", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self) -> None:
        """Make chat requests wait (before any byte) until release()."""
        self.waiting.clear()
        self._gate = threading.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    def chat_requests(self) -> list[dict[str, Any]]:
        return [b for (_, p, b) in self.requests if p == "/api/chat"]

    def __enter__(self) -> OllamaTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ model
    def has(self, name: str) -> bool:
        def norm(n: str) -> str:
            return n if ":" in n else f"{n}:latest"

        return norm(name) in {norm(m) for m in self.models}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that hung up: not news
        pass


class _Handler(BaseHTTPRequestHandler):
    srv: OllamaTestServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ io
    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        body = json.loads(raw) if raw else {}
        self.srv.requests.append((self.command, self.path, body))
        return body

    def _json(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _missing(self, name: str) -> None:
        self._json({"error": f"model \"{name}\" not found, try pulling it first"}, 404)

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        self.srv.requests.append(("GET", self.path, {}))
        if self.path == "/api/tags":
            self._json({"models": [_model_entry(m) for m in self.srv.models]})
        elif self.path == "/api/version":
            self._json({"version": self.srv.version})
        elif self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/api/show":
            name = body.get("model") or body.get("name") or ""
            if not self.srv.has(name):
                return self._missing(name)
            return self._json(
                {
                    "modelfile": "",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": {"family": "qwen2", "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
                    "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                }
            )
        if self.path == "/api/embed":
            name = body.get("model", "")
            if not self.srv.has(name):
                return self._missing(name)
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
            vecs = [[b / 255 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in inputs]
            return self._json({"model": name, "embeddings": vecs, "prompt_eval_count": len(inputs)})
        if self.path == "/api/chat":
            return self._chat(body)
        self._json({"error": "not found"}, 404)

    def _chat(self, body: dict[str, Any]) -> None:
        name = body.get("model", "")
        gate = self.srv._gate
        if gate is not None:  # slow mode: nothing is sent until the test releases us
            self.srv.waiting.set()
            gate.wait(timeout=30)
        if not self.srv.has(name):
            return self._missing(name)
        opts = body.get("options") or {}
        text = self.srv.reply(body)
        pieces = _words(text)
        limit = opts.get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, reason = pieces[:limit], "length"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []))
        final = {
            "model": name,
            "created_at": "2025-01-01T00:00:00Z",
            "done": True,
            "done_reason": reason,
            "total_duration": 3_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": len(pieces),
            "eval_duration": 1_000_000,
        }
        if body.get("stream") is False:
            final["message"] = {"role": "assistant", "content": "".join(pieces)}
            return self._json(final)

        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate(pieces):
            if self.srv.die_after is not None and i >= self.srv.die_after:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # drop mid-body, no terminating chunk
                self.close_connection = True
                return
            self._chunk(
                {
                    "model": name,
                    "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
        final["message"] = {"role": "assistant", "content": ""}
        self._chunk(final)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00Z",
        "size": 4_683_087_332,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {"format": "gguf", "family": "qwen2", "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    }


if __name__ == "__main__":  # manual use: python tests/fakes/ollama_server.py
    s = OllamaTestServer().start()
    print(s.url, flush=True)
    threading.Event().wait()
