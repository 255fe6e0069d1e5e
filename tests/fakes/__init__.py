"""Shared test doubles and builders; test modules import from here, never from each other.

    from fakes.llm import ScriptedLLM, ValidWriterLLM       # fake LLMs for logic tests
    from fakes.http_server import LocalHTTPServer, Response  # a scripted HTTP server; ArxivStandIn, replay()
    from fakes.ollama_server import OllamaTestServer         # the Ollama protocol on 127.0.0.1
    from fakes.pdfs import make_paper_pdf                    # generated PDFs
    from fakes.corpus import Paper, build_corpus             # generated papers ingested into a fresh home
    from fakes.models import small_gguf                      # the real 0.5B GGUF (skips when absent)
    from fakes.data import make_digest, SPARSE               # shared texts with known facts, a built digest

`tests/` is on sys.path (tests/conftest.py puts it there), so `fakes` imports as a top-level package.
"""
