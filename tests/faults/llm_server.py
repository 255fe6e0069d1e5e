"""A misbehaving LLM server on 127.0.0.1 speaking both Ollama's protocol (/api/tags, /api/show, /api/chat) and the
OpenAI one (/v1/models, /v1/chat/completions), one fault at a time:

    die        a streamed answer stops after two pieces (connection dropped, no terminating chunk)
    stall      nothing is sent until the server is closed
    trickle    one byte of whitespace every 0.2 s, forever (defeats a per-read timeout)
    malformed  200 with a body that is not the protocol's JSON
    empty      200 with an empty body
    error500   500 with an HTML error page

A refused connection is a closed port (`closed_url`). `served` counts the chat requests answered (or begun).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "qwen2.5:7b-instruct"
FAULTS = ("die", "stall", "trickle", "malformed", "empty", "error500")
REPLY = "The crawler follows 40 citations per paper [1]. It finds 91 percent of them [2]."


def closed_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class FaultyLLMServer:
    def __init__(self, fault: str):
        assert fault in FAULTS, fault
        self.fault = fault
        self.served = 0
        self.closing = threading.Event()
        srv = self

        class Handler(BaseHTTPRequestHandler):
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
                if self.path == "/api/tags":
                    return self._json({"models": [{"name": MODEL, "model": MODEL, "size": 1, "digest": "0",
                                                   "details": {"family": "qwen2"}}]})
                if self.path == "/api/version":
                    return self._json({"version": "0.9.0-faulty"})
                if self.path == "/v1/models":
                    return self._json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                self._json({"error": "not found"}, 404)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                if self.path == "/api/show":
                    return self._json({"details": {"family": "qwen2"},
                                       "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768}})
                if self.path not in ("/api/chat", "/v1/chat/completions"):
                    return self._json({"error": "not found"}, 404)
                srv.served += 1
                openai = self.path.startswith("/v1")
                fault = srv.fault
                if fault == "stall":
                    srv.closing.wait(120)
                    return
                if fault in ("malformed", "empty", "error500"):
                    data = {"malformed": b'{"model": "x", "message": {"role": "assistant", "content": "The cr',
                            "empty": b"", "error500": b"<html><body>Internal Server Error</body></html>"}[fault]
                    self.send_response(500 if fault == "error500" else 200)
                    self.send_header("Content-Type", "text/html" if fault == "error500" else "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if openai else "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if fault == "trickle":
                    while not srv.closing.wait(0.2):
                        try:
                            self._chunk(b" " if not openai else b": keep-alive\n\n")
                        except OSError:
                            return
                    return
                # die: two pieces of the answer, then the connection drops
                for piece in REPLY.split(" ")[:2]:
                    if openai:
                        event = {"choices": [{"index": 0, "delta": {"content": piece + " "}, "finish_reason": None}]}
                        self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
                    else:
                        self._chunk(json.dumps({"model": MODEL, "message": {"role": "assistant",
                                                                            "content": piece + " "},
                                                "done": False}).encode() + b"\n")
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultyLLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
