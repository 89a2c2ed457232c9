"""How text is cut into search terms, and a typed search into a tsquery: the two must agree."""

import pytest

from replay.search_terms import MOST_DOCUMENT_BYTES, document_terms, terms_of, tsquery_of


def test_an_id_is_a_term_whole_and_by_its_parts():
    assert terms_of("Where is ORD-61744? Customer cus_870879.") == [
        "where", "is", "ord-61744", "ord", "61744", "customer", "cus_870879", "cus", "870879",
    ]


def test_an_address_is_a_term_from_each_of_its_runs_on():
    assert terms_of("grace.hopper@example.org") == [
        "grace.hopper@example.org", "hopper@example.org", "example.org", "grace", "hopper", "example", "org",
    ]


def test_document_terms_are_distinct_and_cover_tool_arguments_and_metadata_values():
    terms = document_terms(texts=["Order ORD-1 and ORD-1 again"], values=[{"order_id": "ORD-1", "items": [7, True]}])
    assert terms.terms == ("order", "ord-1", "ord", "1", "and", "again", "7")


def test_masked_terms_hold_no_part_of_personal_data_nor_the_placeholder():
    terms = document_terms(texts=["I am grace.hopper@example.org, call +44 20 7946 0123 about ORD-5"], values=[])
    assert "grace" in terms.terms and "0123" in terms.terms
    assert terms.masked_terms == ("i", "am", "call", "about", "ord-5", "ord", "5")


def test_the_start_of_an_ids_number_follows_the_texts_own_terms():
    assert document_terms(texts=["ORD-61744 cus_870879 refunds 2026 gpt-4o"], values=[]).terms == (
        "ord-61744", "ord", "61744", "cus_870879", "cus", "870879", "refunds", "2026", "gpt-4o", "gpt", "4o",
        "ord-6", "ord-61", "cus_8", "cus_87", "gpt-4",
    )


def test_a_masked_value_lends_no_prefix_to_the_masked_terms():
    terms = document_terms(texts=["mail ada@example.org +1-555-0100 about ORD-57"], values=[])
    assert {"1-555-0", "1-555-01"} <= set(terms.terms)
    assert terms.masked_terms == ("mail", "about", "ord-57", "ord", "57", "ord-5")


def test_prefixes_never_take_the_place_of_a_term_in_a_full_document():
    words = [f"w{number:07d}" for number in range(MOST_DOCUMENT_BYTES // 16)]  # 8 bytes and 8 of overhead each
    terms = document_terms(texts=[" ".join(words)], values=[]).terms
    assert terms[: len(words)] == tuple(words)
    assert sum(len(term) + 8 for term in terms) <= MOST_DOCUMENT_BYTES


def test_a_blob_is_no_term():
    assert document_terms(texts=["x" * 201, "ok"], values=[]).terms == ("ok",)


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("ORD-617", "'ord-617':*"),
        ("'ORD-61744' & !cus_87 | (x):*", "'ord-61744':* & 'cus_87':* & 'x':*"),
        ("refund refund", "'refund':*"),
        ("&|!:*()'\"\\", None),
        ("x" * 10_000, None),
    ],
)
def test_a_typed_search_becomes_prefix_terms_that_must_all_match(typed, query):
    assert tsquery_of(typed) == query
