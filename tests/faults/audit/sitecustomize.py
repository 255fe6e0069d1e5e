"""Loaded by every Python process started with this folder on PYTHONPATH (tests/faults/test_outbound.py): an audit
hook records each network destination the process attempts — name lookups, connects, datagrams — as one JSON line
in $PAPERRAG_AUDIT_LOG, and refuses every one that is not loopback (as a firewall that lets only 127.0.0.1 through
would). It also records the telemetry/offline variables as they are when gradio, chromadb, huggingface_hub or
posthog is first imported: what the library reads at import."""

import ipaddress
import json
import os
import socket
import sys

_LOG = os.environ.get("PAPERRAG_AUDIT_LOG")
_WATCHED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED",
                "HF_HUB_DISABLE_TELEMETRY")
_WATCHED_IMPORTS = {"gradio", "chromadb", "huggingface_hub", "posthog", "sentence_transformers"}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _loopback(host) -> bool:
    if host is None or host == "":
        return True  # getaddrinfo(None, port): a local bind
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0].lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _write(record: dict) -> None:
    record["pid"] = os.getpid()
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _hook(event: str, args: tuple) -> None:
    if event == "import":
        top = str(args[0]).partition(".")[0]
        if top in _WATCHED_IMPORTS and top not in _seen:
            _seen.add(top)
            _write({"event": "import", "module": top, "env": {k: os.environ.get(k) for k in _WATCHED_ENV}})
        return
    if event == "socket.getaddrinfo":
        host, port = args[0], args[1]
    elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        host, port = args[0], None
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1] if event != "socket.sendmsg" else args[1]
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return  # a Unix socket or a connected datagram: not the network
        host, port = address[0], address[1]
    else:
        return
    allowed = _loopback(host)
    _write({"event": event, "host": host if not isinstance(host, bytes) else host.decode(), "port": port,
            "allowed": allowed})
    if not allowed:
        if event.startswith("socket.get"):
            raise socket.gaierror(socket.EAI_NONAME, f"outbound traffic blocked by the test: {host}")
        raise OSError(101, f"outbound traffic blocked by the test: {host}:{port}")


_seen: set = set()
if _LOG:
    sys.addaudithook(_hook)
