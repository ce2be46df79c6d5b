"""The entry's canonical text written field by field equals its definition.

`entry_canonical` is the fast writer the engine seals with and `verify` re-seals
with; `canonical_json(entry_canonical_object(...))` is the definition every
chain already written was sealed with. One differing byte would break every
existing chain, so the two are compared over arbitrary entries: any text
(quotes, controls, line separators, astral characters), any timestamp and
offset, absent and present optional fields, and values of unexpected types
(which must take the definition's path).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.core.chain import canonical_json, entry_canonical, entry_canonical_object

texts = st.text()
optional_texts = st.none() | st.text()
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC) | offsets
)
legs = st.tuples(
    st.integers(min_value=0, max_value=50),
    st.integers(min_value=1, max_value=2**40),
    st.text(min_size=1, max_size=4),
    st.integers(min_value=-(2**62), max_value=2**62),
)
odd_values = st.booleans() | st.integers()


def entries(values: st.SearchStrategy[Any] = texts) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "sequence": st.integers(min_value=1, max_value=2**62),
            "entry_id": values,
            "idempotency_key": values,
            "request_hash": values,
            "kind": values,
            "effective_on": st.dates(),
            "recorded_at": moments,
            "actor": st.none() | values,
            "narration": values,
            "metadata_json": values,
            "reverses_entry_id": st.none() | values,
            "hold_id": st.none() | values,
            "postings": st.lists(legs, max_size=6),
        }
    )


@given(entries())
def test_the_fast_text_is_the_definition(fields: dict[str, Any]) -> None:
    assert entry_canonical(**fields) == canonical_json(entry_canonical_object(**fields))


@given(
    entries(texts | odd_values),
    st.none() | st.booleans(),
    st.lists(st.tuples(st.booleans(), st.integers(), st.text(), st.integers()), max_size=2),
)
def test_values_of_other_types_take_the_definitions_path(
    fields: dict[str, Any], odd_sequence: bool | None, odd_legs: list[tuple[Any, ...]]
) -> None:
    if odd_sequence is not None:
        fields["sequence"] = odd_sequence
    fields["postings"] = fields["postings"] + odd_legs
    assert entry_canonical(**fields) == canonical_json(entry_canonical_object(**fields))


def test_a_known_entry_keeps_its_known_text() -> None:
    """The text of one entry, written out by hand: both forms must produce it."""
    fields: dict[str, Any] = {
        "sequence": 7,
        "entry_id": "e-1",
        "idempotency_key": 'dono "1"',
        "request_hash": "ab",
        "kind": "gift",
        "effective_on": date(2026, 12, 7),
        "recorded_at": datetime(2026, 12, 7, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
        "actor": None,
        "narration": "Caffè\u2028sospeso",
        "metadata_json": '{"a":1}',
        "reverses_entry_id": None,
        "hold_id": "h",
        "postings": [(1, 9, "EUR", -500), (0, 3, "EUR", 500)],
    }
    text = (
        '{"actor":null,"effective_on":"2026-12-07","hold":"h","id":"e-1",'
        '"idempotency_key":"dono \\"1\\"","kind":"gift","metadata":"{\\"a\\":1}",'
        '"narration":"Caffè\u2028sospeso","postings":[[0,3,"EUR",500],[1,9,"EUR",-500]],'
        '"recorded_at":"2026-12-07T10:00:00.000005Z","request_hash":"ab","reverses":null,'
        '"sequence":7}'
    )
    assert entry_canonical(**fields) == text
    assert canonical_json(entry_canonical_object(**fields)) == text
