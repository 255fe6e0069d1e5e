"""OpenAI-compatible backend against a tiny OpenAI-protocol server on 127.0.0.1 (JSON and SSE)."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.llm.base import (
    ContextOverflow,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    ModelMissing,
)
from rag.llm.openai_backend import OpenAILLM

MSGS = [{"role": "user", "content": "hello there"}]


class OpenAIServer:
    """/v1/models, /v1/chat/completions. Reply = "echo: <last user message>" word by word."""

    def __init__(self, models=("local-model",)):
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []
        self.die_after: int | None = None
        self.reject_stream_options = False
        self.context = 1000  # prompt characters accepted
        self.gate: threading.Event | None = None
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def _json(self, obj, status=200):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    return self._json({"object": "list", "data": [{"id": m, "object": "model"} for m in srv.models]})
                self._json({"error": {"message": "Not Found"}}, 404)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if self.path != "/v1/chat/completions":
                    return self._json({"error": {"message": "Not Found"}}, 404)
                if srv.gate is not None:
                    srv.gate.wait(timeout=30)
                if body["model"] not in srv.models:
                    return self._json({"error": {"message": f"The model `{body['model']}` does not exist.",
                                                 "type": "NotFoundError", "code": 404}}, 404)  # fmt: skip
                if srv.reject_stream_options and "stream_options" in body:
                    return self._json({"error": {"message": "unknown field stream_options"}}, 400)
                chars = sum(len(m["content"]) for m in body["messages"])
                if chars > srv.context:
                    msg = f"This model's maximum context length is {srv.context} tokens. You requested {chars}"
                    return self._json({"error": {"message": msg}}, 400)
                words = ("echo: " + body["messages"][-1]["content"]).split(" ")
                pieces = [w + " " for w in words[:-1]] + [words[-1]]
                finish = "stop"
                if len(pieces) > body.get("max_tokens", 10**6):
                    pieces, finish = pieces[: body["max_tokens"]], "length"
                usage = {"prompt_tokens": chars // 4 + 1, "completion_tokens": len(pieces)}
                if not body.get("stream"):
                    return self._json({"id": "c1", "object": "chat.completion", "model": body["model"],
                                       "choices": [{"index": 0, "finish_reason": finish, "message":
                                                    {"role": "assistant", "content": "".join(pieces)}}],
                                       "usage": usage})  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
                for i, p in enumerate(pieces):
                    if srv.die_after is not None and i >= srv.die_after:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self._event({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({"choices": [], "usage": usage})
                self._raw(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _event(self, obj):
                self._raw(b": keep-alive\n\ndata: " + json.dumps(obj).encode() + b"\n\n")

            def _raw(self, data):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Quiet(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        if self.gate is not None:
            self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def srv():
    s = OpenAIServer()
    yield s
    s.close()


def test_chat(srv):
    llm = OpenAILLM(srv.url, "local-model", api_key="k", context_tokens=4096, max_tokens=77, temperature=0.3)
    r = llm.chat(MSGS, stop=["\n"], json_mode=True)
    assert r.text == "echo: hello there" and r.finish_reason == "stop"
    assert (r.tokens_in, r.tokens_out, r.backend, r.model) == (3, 3, "openai", "local-model")
    req = srv.requests[-1]
    assert req["auth"] == "Bearer k" and req["max_tokens"] == 77 and req["temperature"] == 0.3
    assert req["stop"] == ["\n"] and req["response_format"] == {"type": "json_object"} and req["stream"] is False


def test_stream_with_usage(srv):
    s = OpenAILLM(srv.url, "local-model").stream(MSGS, max_tokens=2)
    assert list(s) == ["echo: ", "hello "]
    r = s.result
    assert r.text == "echo: hello " and r.finish_reason == "length" and (r.tokens_in, r.tokens_out) == (3, 2)
    assert r.first_token_s is not None and srv.requests[-1]["stream_options"] == {"include_usage": True}


def test_stream_falls_back_when_stream_options_are_rejected(srv):
    srv.reject_stream_options = True
    llm = OpenAILLM(srv.url, "local-model")
    s = llm.stream(MSGS)
    assert s.consume().text == "echo: hello there"
    assert s.result.tokens_out == 3 and s.result.tokens_in is None  # counted pieces, no usage
    assert "stream_options" not in srv.requests[-1]


def test_empty_model_name_takes_the_served_one(srv):
    llm = OpenAILLM(srv.url)
    assert llm.chat(MSGS).model == "local-model" and llm.model == "local-model"


def test_errors(srv):
    with pytest.raises(ModelMissing, match="'gpt-x' is not served"):
        OpenAILLM(srv.url, "gpt-x").chat(MSGS)
    with pytest.raises(ModelMissing):
        list(OpenAILLM(srv.url, "gpt-x").stream(MSGS))
    with pytest.raises(ContextOverflow, match="maximum context length"):
        OpenAILLM(srv.url, "local-model").chat([{"role": "user", "content": "x" * 2000}])
    with pytest.raises(LLMUnavailable, match="/v1"):
        OpenAILLM(srv.url.removesuffix("/v1"), "local-model").chat(MSGS)
    with pytest.raises(LLMUnavailable, match="llm.openai_base_url"):
        OpenAILLM("", "m")


@pytest.mark.parametrize("streaming", [False, True])
def test_server_down(streaming):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()
    llm = OpenAILLM(url, "m")
    with pytest.raises(LLMUnavailable, match=re.escape(url)):
        list(llm.stream(MSGS)) if streaming else llm.chat(MSGS)


def test_mid_stream_death(srv):
    srv.die_after = 1
    s = OpenAILLM(srv.url, "local-model").stream(MSGS)
    with pytest.raises(LLMError, match="broke during the answer"):
        list(s)
    assert s.text == "echo: "


@pytest.mark.parametrize("streaming", [False, True])
def test_slow_server_times_out(srv, streaming):
    srv.gate = threading.Event()
    llm = OpenAILLM(srv.url, "local-model", timeout_s=0.3)
    try:
        with pytest.raises(LLMTimeout, match=r"0\.3 s"):
            list(llm.stream(MSGS)) if streaming else llm.chat(MSGS)
    finally:
        srv.gate.set()
        srv.gate = None
