from __future__ import annotations

from embeddings.lexical import Bm25Ranking, tokenize


def test_tokenize_folds_case_and_accents_and_drops_stopwords() -> None:
    assert tokenize("De ideeën van de Brandweer in het Café") == ["ideeen", "brandweer", "cafe"]


def test_tokenize_english_stopwords_and_numbers_kept() -> None:
    # Single letters go ("N" of "N-33"), single digits stay ("GRIP 2").
    assert tokenize("The GRIP 2 alarm at the N-33, and 112 was called") == [
        "grip",
        "2",
        "alarm",
        "33",
        "112",
        "called",
    ]


def test_tokenize_empty_and_punctuation() -> None:
    assert tokenize("") == []
    assert tokenize("... !? --") == []


def test_search_ranks_matching_lessons_and_skips_non_matching() -> None:
    bm25 = Bm25Ranking()
    bm25.add([(10, "brand in de tunnel"), (11, "radio in de kelder"), (12, "tunnel tunnel brand")])
    ranking = bm25.search("Brand tunnel?", 10)
    assert [i for i, _ in ranking] == [12, 10]
    assert all(score > 0 for _, score in ranking)
    assert bm25.search("kelder", 1) == [(11, bm25.search("kelder", 1)[0][1])]


def test_add_replaces_and_remove_forgets() -> None:
    bm25 = Bm25Ranking()
    bm25.add([(1, "brand"), (2, "water")])
    bm25.add([(1, "water")])
    assert {i for i, _ in bm25.search("water", 5)} == {1, 2}
    assert bm25.search("brand", 5) == []
    bm25.remove([2, 99])
    assert [i for i, _ in bm25.search("water", 5)] == [1]
    assert len(bm25) == 1


def test_empty_cases() -> None:
    bm25 = Bm25Ranking()
    assert bm25.search("brand", 5) == []
    bm25.add([(1, "de het een"), (2, "brand")])  # a document of only stopwords
    assert bm25.search("de", 5) == []
    assert bm25.search("onbekend", 5) == []
    assert bm25.search("brand", 0) == []
    assert [i for i, _ in bm25.search("brand", 5)] == [2]


def test_tokenize_stems_by_language() -> None:
    assert tokenize("evacuating the residents", "en") == tokenize("evacuation of residents", "en")
    assert tokenize("ontruimen", "nl") == tokenize("ontruiming", "nl") == ["ontruim"]
    assert tokenize("evacuating") == ["evacuating"]  # no language: no stemming


def test_search_stems_the_question_like_its_language() -> None:
    ranking = Bm25Ranking()
    ranking.add([(1, "Evacuation of the care home went well", "en"), (2, "Radio failed", "en")])
    assert [rid for rid, _ in ranking.search("evacuating a care home", 5, "en")] == [1]
