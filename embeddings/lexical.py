"""BM25 over lesson texts (bm25s), with a tokenizer for Dutch and English.

The dense encoders find lessons by meaning across languages; BM25 catches the exact
words (a road name, "N-33", a procedure code) that embeddings blur.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN

_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    """Lowercase and strip accents ("ideeën" -> "ideeen"), so spelling variants meet."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


STOPWORDS: frozenset[str] = frozenset(_fold(w) for w in (*STOPWORDS_DUTCH, *STOPWORDS_EN))


def tokenize(text: str) -> list[str]:
    """Split text into folded word tokens without Dutch/English stopwords; numbers stay."""
    tokens = []
    for token in _WORD.findall(_fold(text)):
        token = token.strip("_")
        # Single letters carry no meaning; single digits may ("fase 1", "GRIP 2").
        if token and token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            tokens.append(token)
    return tokens


class Bm25Ranking:
    """A BM25 ranking keyed by reflection id, with add and remove.

    bm25s builds an immutable sparse matrix, so a change only marks the ranking dirty
    and the next search re-indexes every document: tokenizing is cached, the rebuild
    itself takes a few milliseconds per thousand lessons, fine at a network's scale
    (thousands); at hundreds of thousands this wants an incremental inverted index.
    Not thread-safe on its own: the owner holds a lock.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._tokens: dict[int, list[str]] = {}
        self._retriever: bm25s.BM25 | None = None
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._dirty = False

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, reflection_id: object) -> bool:
        return reflection_id in self._tokens

    def ids(self) -> set[int]:
        """Return the ids of the indexed documents."""
        return set(self._tokens)

    def add(self, docs: Iterable[tuple[int, str]]) -> None:
        """Index (id, text) pairs, replacing documents with the same id."""
        for reflection_id, text in docs:
            self._tokens[int(reflection_id)] = tokenize(text)
            self._dirty = True

    def remove(self, reflection_ids: Iterable[int]) -> None:
        """Forget documents; unknown ids are ignored."""
        for reflection_id in reflection_ids:
            if self._tokens.pop(int(reflection_id), None) is not None:
                self._dirty = True

    def clear(self) -> None:
        """Forget every document."""
        self._tokens.clear()
        self._dirty = True

    def _reindex(self) -> None:
        self._dirty = False
        self._retriever = None
        self._ids = np.fromiter(self._tokens, dtype=np.int64, count=len(self._tokens))
        if not self._tokens:
            return
        retriever = bm25s.BM25(k1=self.k1, b=self.b)
        # A document without tokens would make an empty row; bm25s pads with "".
        retriever.index(list(self._tokens.values()), show_progress=False)
        self._retriever = retriever

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Return up to `k` (id, score) pairs with a positive score, best first."""
        if k <= 0:
            return []
        if self._dirty:
            self._reindex()
        if self._retriever is None:
            return []
        vocab = self._retriever.vocab_dict
        terms = [t for t in tokenize(query) if t in vocab]
        if not terms:
            return []
        scores = np.asarray(self._retriever.get_scores(terms), dtype=np.float64)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        # Sort by score, then by id, so equal scores come out in a stable order.
        top = top[np.lexsort((self._ids[top], -scores[top]))]
        return [(int(self._ids[i]), float(scores[i])) for i in top if scores[i] > 0]
