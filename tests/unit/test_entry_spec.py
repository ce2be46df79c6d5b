"""EntrySpec: an entry request is validated when it is built (I1) and has one canonical form."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from ledger.core.chain import request_hash
from ledger.core.errors import InvalidEntryError, UnbalancedEntryError
from ledger.core.journal import MAX_NARRATION, EntrySpec, PostingSpec
from ledger.core.money import Money


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def leg(account: str, minor: int, currency: str = "EUR") -> PostingSpec:
    return PostingSpec(account, Money(minor, currency))


BALANCED = (leg("assets:bank", 2500), leg("income:donations", -2500))


def spec(**changes) -> EntrySpec:
    fields = {
        "idempotency_key": "k1",
        "kind": "donation",
        "postings": BALANCED,
        "effective_on": date(2026, 6, 1),
        "narration": "Donazione",
        "metadata": {"campaign": 42, "channel": "bank"},
    }
    fields.update(changes)
    return EntrySpec(**fields)


# --------------------------------------------------------------------------- postings


def test_an_entry_with_one_posting_is_refused():
    with pytest.raises(InvalidEntryError):
        spec(postings=[leg("assets:bank", 1)])


def test_an_entry_with_no_postings_is_refused():
    with pytest.raises(InvalidEntryError):
        spec(postings=[])


def test_a_zero_posting_is_refused_even_when_the_rest_balances():
    with pytest.raises(InvalidEntryError) as refused:
        spec(postings=[*BALANCED, leg("expense:fees", 0)])
    assert "expense:fees" in refused.value.message


def test_an_unbalanced_entry_is_refused_with_the_difference():
    with pytest.raises(UnbalancedEntryError) as refused:
        spec(postings=[leg("assets:bank", 2500), leg("income:donations", -2400)])
    assert refused.value.code == "unbalanced_entry"
    assert refused.value.details["off_by"] == {"EUR": "100"}


def test_two_currencies_each_unbalanced_are_both_reported():
    # The EUR surplus equals the USD deficit in minor units: only a per-currency
    # check notices that this entry invents money.
    with pytest.raises(UnbalancedEntryError) as refused:
        spec(postings=[leg("assets:bank", 100), leg("assets:usd", -100, "USD")])
    assert refused.value.details["off_by"] == {"EUR": "100", "USD": "-100"}


def test_one_balanced_currency_does_not_excuse_another():
    with pytest.raises(UnbalancedEntryError) as refused:
        spec(postings=[*BALANCED, leg("assets:jpy", 5, "JPY"), leg("income:jpy", -4, "JPY")])
    assert refused.value.details["off_by"] == {"JPY": "1"}


def test_a_multi_currency_entry_balanced_in_each_currency_is_accepted():
    entry = spec(
        postings=[
            leg("assets:bank", 1000),
            leg("equity:trading:eur", -1000),
            leg("equity:trading:jpy", 1600, "JPY"),
            leg("assets:jpy", -1600, "JPY"),
        ]
    )
    assert len(entry.postings) == 4


def test_postings_must_be_posting_specs_of_money():
    with pytest.raises(InvalidEntryError):
        spec(postings=[("assets:bank", eur(1)), ("income:donations", eur(-1))])
    with pytest.raises(InvalidEntryError):
        spec(postings=[PostingSpec("assets:bank", 1), PostingSpec("income:donations", -1)])


def test_postings_are_frozen_into_a_tuple():
    given = [leg("assets:bank", 1), leg("income:donations", -1)]
    entry = spec(postings=given)
    given.append(leg("expense:fees", 5))
    assert len(entry.postings) == 2


# --------------------------------------------------------------------------- text and metadata


@pytest.mark.parametrize(
    "kind", ["", "Donation", "1donation", "donation-fee", "dona tion", "d" * 65, None]
)
def test_a_malformed_kind_is_refused(kind):
    with pytest.raises(InvalidEntryError):
        spec(kind=kind)


def test_a_kind_of_sixty_four_characters_is_accepted():
    assert spec(kind="d" * 64).kind == "d" * 64


def test_a_narration_over_the_limit_is_refused():
    with pytest.raises(InvalidEntryError):
        spec(narration="x" * (MAX_NARRATION + 1))


def test_a_narration_at_the_limit_is_accepted():
    assert len(spec(narration="x" * MAX_NARRATION).narration) == MAX_NARRATION


@pytest.mark.parametrize("value", [0.5, 1.0, float("nan")])
def test_a_float_metadata_value_is_refused(value):
    with pytest.raises(InvalidEntryError):
        spec(metadata={"rate": value})


@pytest.mark.parametrize("metadata", [{"nested": {"a": 1}}, {"list": [1, 2]}, {1: "x"}])
def test_metadata_is_flat_with_string_keys(metadata):
    with pytest.raises(InvalidEntryError):
        spec(metadata=metadata)


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, None])
def test_an_idempotency_key_is_required_and_bounded(key):
    with pytest.raises(InvalidEntryError):
        spec(idempotency_key=key)


def test_an_effective_datetime_is_refused_in_place_of_a_date():
    with pytest.raises(InvalidEntryError):
        spec(effective_on=datetime(2026, 6, 1, 12, 0))


def test_an_effective_date_string_is_refused():
    with pytest.raises(InvalidEntryError):
        spec(effective_on="2026-06-01")


# --------------------------------------------------------------------------- canonical request


def test_equal_specs_have_the_same_canonical_request():
    first = spec(metadata={"campaign": 42, "channel": "bank"})
    # Built separately, with the metadata keys given in another order.
    second = spec(
        metadata={"channel": "bank", "campaign": 42},
        postings=[leg("assets:bank", 2500), leg("income:donations", -2500)],
    )
    assert first.request() == second.request()
    assert request_hash(first.request()) == request_hash(second.request())


def test_the_idempotency_key_is_not_part_of_the_request_it_names():
    assert spec(idempotency_key="a").request() == spec(idempotency_key="b").request()


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "refund"},
        {"effective_on": date(2026, 6, 2)},
        {"effective_on": None},
        {"narration": "Donazione."},
        {"metadata": {"campaign": 43, "channel": "bank"}},
        {"metadata": {"campaign": "42", "channel": "bank"}},
        {"metadata": {"campaign": 42}},
        {"postings": (leg("assets:bank", 2501), leg("income:donations", -2501))},
        {"postings": (leg("assets:cash", 2500), leg("income:donations", -2500))},
        {"postings": (leg("assets:bank", 2500, "USD"), leg("income:donations", -2500, "USD"))},
        {"postings": (leg("income:donations", -2500), leg("assets:bank", 2500))},
        {
            "postings": (
                leg("assets:bank", 2500),
                leg("income:donations", -2000),
                leg("income:donations", -500),
            )
        },
    ],
    ids=[
        "kind",
        "date",
        "no-date",
        "narration",
        "metadata-value",
        "metadata-type",
        "metadata-key",
        "amount",
        "account",
        "currency",
        "order",
        "split",
    ],
)
def test_any_difference_in_a_field_changes_the_canonical_request(changes):
    base = spec()
    other = spec(**changes)
    assert other.request() != base.request()
    assert request_hash(other.request()) != request_hash(base.request())


def test_metadata_true_and_one_are_different_requests():
    assert spec(metadata={"flag": True}).request() != spec(metadata={"flag": 1}).request()


def test_a_spec_cannot_be_changed_after_validation():
    entry = spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.kind = "refund"  # type: ignore[misc]
