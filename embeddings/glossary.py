"""Word-by-word translation of questions between Dutch and English with a domain glossary.

The multilingual encoder (e5) finds lessons across languages, but weakly: it scores a lesson
in the question's language higher than an equally relevant one in the other. BM25 needs
shared words, and the English-only encoder (MiniLM) cannot read Dutch at all. Translating
the question's domain words ("portofoons" -> "radios handheld radios") lets both of them
judge lessons in the other language too. The result is a bag of words, not a sentence:
good enough for BM25 and a sentence encoder, and no model or network is needed.

The glossary is `data/glossary_nl_en.tsv`: one Dutch word, a tab, its English words
separated by "|". Dutch compounds not in it are split on the longest known head and tail
("hijsongevallen" -> "hijs" + "ongevallen" -> "accidents"). English is matched on stems,
longest phrase first ("power outage" before "power").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

import Stemmer

from embeddings.lexical import fold

_WORD = re.compile(r"\w+(?:'s)?")
_MIN_PART = 4  # shortest glossary word a compound may be split on
_MAX_PHRASE = 3  # longest English phrase matched, in words


class Glossary:
    """Translates questions between Dutch ("nl") and English ("en")."""

    def __init__(self, entries: Iterable[tuple[str, list[str]]]) -> None:
        self._english = Stemmer.Stemmer("english")
        self._nl_en: dict[str, list[str]] = {}
        self._en_nl: dict[tuple[str, ...], list[str]] = {}
        for dutch, english in entries:
            key = fold(dutch)
            self._nl_en.setdefault(key, [])
            for phrase in english:
                phrase = fold(phrase).strip()
                if phrase and phrase not in self._nl_en[key]:
                    self._nl_en[key].append(phrase)
                stems = self._stems(phrase)
                if stems and key not in self._en_nl.setdefault(stems, []):
                    self._en_nl[stems].append(key)

    @classmethod
    def parse(cls, text: str) -> Glossary:
        """Read the glossary's TSV format; "#" starts a comment line."""
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            dutch, sep, english = line.partition("\t")
            if not sep or not dutch.strip() or not english.strip():
                raise ValueError(f"glossary line {number}: expected 'dutch<TAB>english|...'")
            entries.append((dutch.strip(), [e for e in english.split("|") if e.strip()]))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._nl_en)

    def _stems(self, text: str) -> tuple[str, ...]:
        return tuple(self._english.stemWords(_WORD.findall(fold(text))))

    def translate(self, text: str, source: str, target: str) -> str:
        """Return the glossary words of `text` in `target`; "" when none is known."""
        if (source, target) == ("nl", "en"):
            return " ".join(self._dutch_to_english(text))
        if (source, target) == ("en", "nl"):
            return " ".join(self._english_to_dutch(text))
        return ""

    def _dutch_to_english(self, text: str) -> list[str]:
        out: list[str] = []
        for word in _WORD.findall(fold(text)):
            for dutch in self._dutch_parts(word):
                out += [e for e in self._nl_en[dutch] if e not in out]
        return out

    def _dutch_parts(self, word: str) -> list[str]:
        """The glossary words a Dutch word is, or is compounded of."""
        if word in self._nl_en:
            return [word]
        if word.endswith("'s") and word[:-2] in self._nl_en:
            return [word[:-2]]
        parts = []
        for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
            if word[cut:] in self._nl_en:  # the longest known tail (the compound's head)
                parts.append(word[cut:])
                break
        for cut in range(len(word) - _MIN_PART, _MIN_PART - 1, -1):
            if word[:cut] in self._nl_en:  # the longest known beginning
                parts.insert(0, word[:cut])
                break
        return parts

    def _english_to_dutch(self, text: str) -> list[str]:
        stems = self._stems(text)
        out: list[str] = []
        start = 0
        while start < len(stems):
            for size in range(min(_MAX_PHRASE, len(stems) - start), 0, -1):
                dutch = self._en_nl.get(stems[start : start + size])
                if dutch:
                    out += [d for d in dutch if d not in out]
                    start += size
                    break
            else:
                start += 1
        return out


@cache
def bundled() -> Glossary:
    """The glossary that comes with Leerlus (read once per process)."""
    source = resources.files("embeddings").joinpath("data/glossary_nl_en.tsv")
    return Glossary.parse(source.read_text(encoding="utf-8"))
