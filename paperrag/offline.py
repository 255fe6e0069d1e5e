"""What paperrag's libraries would send on their own is off before any of them is imported: paperrag talks to the
configured arXiv and LLM hosts only (tests/faults/test_outbound.py audits every socket of a whole day and of the
web app). Each is a default: a variable the user set is kept.

Applied by `import paperrag` (every entry point — the CLI, the web app, the Python API — imports it first)."""

from __future__ import annotations

import os

QUIET_ENV = {
    "HF_HUB_OFFLINE": "1",  # the embedding model is bundled; the hub is never asked for it
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's posthog events
    "GRADIO_ANALYTICS_ENABLED": "False",  # gradio's usage pings and version check
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_defaults() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
