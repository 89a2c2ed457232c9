"""How text is cut into search terms, and a typed search into a tsquery: the two must agree."""

import pytest

from replay.search_terms import document_terms, terms_of, tsquery_of


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
