"""The grant statement against the books, on SQLite and PostgreSQL.

A campaign runs under a ratio commitment and a threshold commitment of one
foundation: gifts by named and unnamed donors (cash and card), a refund
before the close, the close that releases the match, a disbursement and a
refund after it (clawback due). The statement for a period is then compared
with the engine's balances state by state, as data, as CSV and as the text
extracted from its PDF; a statement for an earlier period is compared with the
balances taken on that day; and the chain head it ends with is the journal's.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from ledger.campaigns.donations import record_offline_donation
from ledger.core.clock import rome_today
from ledger.core.models import JournalEntry
from ledger.core.money import Money, format_it, format_minor
from ledger.core.service import Ledger
from ledger.grants.matching import record_disbursement
from ledger.statements.grants import (
    STATES,
    GrantStatement,
    InvalidStatementPeriodError,
    build_grant_statement,
    grant_statement_csv,
)
from ledger.statements.grants_pdf import render_grant_statement_pdf
from tests.integration.grants_helpers import Books, eur

ENGINE_NAMES = {
    "pledged": "pool_available",
    "reserved": "reserved",
    "earned": "earned",
    "released": "released",
    "disbursed": "disbursed",
    "clawback_due": "clawback_due",
}


def give_unnamed(books: Books, amount: str, person: int) -> int:
    """A gift by a known person who did not consent to be named (anonymous)."""

    def work(session: Any) -> int:
        donation, _ = record_offline_donation(
            session,
            books.campaign_id,
            Money.parse(amount, "EUR"),
            method="cash",
            person_id=person,
            anonymous=True,
            reference=None,
            request_key=f"unnamed-{amount}-{person}",
            donated_on=None,
            actor="test",
            clock=books.ledger.clock,
        )
        return int(donation.id)

    return books.ledger.run(work)


def statement(ledger: Ledger, books: Books, start: date, end: date) -> GrantStatement:
    return ledger.read(
        lambda s: build_grant_statement(
            s, books.foundation_id, start, end, today=rome_today(ledger.clock)
        )
    )


def engine_states(books: Books, c: int) -> dict[str, int]:
    got = books.states(c)
    return {state: got[ENGINE_NAMES[state]] for state in STATES}


def last_entry_until(ledger: Ledger, end: date) -> tuple[int, str]:
    def read(session: Any) -> tuple[int, str]:
        row = session.execute(
            select(JournalEntry.sequence, JournalEntry.hash)
            .where(JournalEntry.effective_on <= end)
            .order_by(JournalEntry.sequence.desc())
            .limit(1)
        ).one()
        return int(row.sequence), str(row.hash)

    return ledger.read(read)


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.fixture
def world(ledger: Ledger) -> dict[str, Any]:
    """The campaign's story; the balances taken on its first day are kept."""
    books = Books(ledger, goal="1000.00")
    ratio = books.commit(ratio="2", pool_minor=eur("1500.00"), title="Raddoppio")
    threshold = books.commit(
        kind="threshold",
        title="Soglia 40%",
        pool_minor=eur("600.00"),
        threshold_share="0.4",
        topup_share="0.6",
        topup_cap_minor=eur("600.00"),
        topup_policy="fixed",
    )
    anna = books.person("Annamaria")
    bruno = books.person("Brunilde")
    first = books.give("100.00", person=anna)
    books.give_card("200.00", "3.20", person=anna)
    give_unnamed(books, "50.00", bruno)
    books.give("20.00")  # no person at all
    books.refund(first, "10.00")
    first_day = rome_today(ledger.clock)
    on_first_day = {c: engine_states(books, c) for c in (ratio, threshold)}
    ledger.clock.instant += timedelta(days=1)  # type: ignore[attr-defined]
    books.give("150.00", person=anna)  # 510 raised: the 40 % threshold is crossed
    assert books.close() == "closed"
    ledger.run(
        lambda s: record_disbursement(
            s,
            ratio,
            books.campaign_id,
            eur("1020.00"),
            key="bonifico-fondazione-1",
            clock=ledger.clock,
            actor="test",
        )
    )
    books.refund(first, "90.00")  # after the whole match was disbursed: clawback due
    return {
        "books": books,
        "ratio": ratio,
        "threshold": threshold,
        "first_day": first_day,
        "on_first_day": on_first_day,
        "today": rome_today(ledger.clock),
    }


def test_the_statements_totals_equal_the_engines_balances_for_each_state(ledger, world):
    books = world["books"]
    got = statement(ledger, books, date(2026, 6, 1), world["today"])
    parts = {p.commitment_id: p for p in got.commitments}
    assert set(parts) == {world["ratio"], world["threshold"]}
    for c, part in parts.items():
        engine = engine_states(books, c)
        assert {s: getattr(part.states, s) for s in STATES} == engine
        assert part.states.word == books.states(c)["word"]
        # One campaign: its part of every state is the commitment's.
        (campaign,) = part.campaigns
        assert {s: campaign.states[s] for s in STATES[1:]} == {s: engine[s] for s in STATES[1:]}
        assert not any(part.unattributed.values())
    ratio = engine_states(books, world["ratio"])
    assert ratio["clawback_due"] == eur("180.00")  # 2 x 90 refunded after disbursement
    assert ratio["disbursed"] == eur("840.00")
    assert engine_states(books, world["threshold"])["released"] == eur("600.00")
    for state in STATES:
        assert got.totals["EUR"][state] == sum(
            engine_states(books, c)[state] for c in (world["ratio"], world["threshold"])
        )


def test_the_crowds_money_is_the_escrow_balance_and_only_consenting_donors_are_named(ledger, world):
    books = world["books"]
    got = statement(ledger, books, date(2026, 6, 1), world["today"])
    campaign = got.commitments[0].campaigns[0]
    escrow = ledger.balance(f"liabilities:campaigns:{books.campaign_id}:escrow").posted
    assert campaign.raised_minor == escrow == eur("420.00")  # 520 given, 100 refunded
    assert campaign.gifts == 4  # the first gift is wholly refunded
    assert campaign.fees_minor == eur("3.20")
    assert campaign.budget_minor == eur("1000.00")
    assert campaign.status == "closed"
    assert [(d.name, d.gifts, d.amount_minor) for d in campaign.named] == [
        ("Annamaria", 2, eur("350.00"))
    ]
    assert (campaign.unnamed_gifts, campaign.unnamed_minor) == (2, eur("70.00"))
    threshold = next(p for p in got.commitments if p.commitment_id == world["threshold"])
    assert threshold.campaigns[0].threshold_minor == eur("400.00")
    text = pdf_text(render_grant_statement_pdf(got))
    table = grant_statement_csv(got)
    assert "Annamaria" in text and "Annamaria" in table
    assert "Brunilde" not in text and "Brunilde" not in table


def test_the_pdf_text_carries_every_state_and_the_chain_head(ledger, world):
    books = world["books"]
    got = statement(ledger, books, date(2026, 6, 1), world["today"])
    sequence, digest = last_entry_until(ledger, world["today"])
    assert (got.head_sequence, got.head_hash) == (sequence, digest)
    text = pdf_text(render_grant_statement_pdf(got))
    assert digest in text.replace(" ", "")
    assert f"registrazione numero {sequence}" in text
    assert "donazioni lorde" in text  # gross or net is stated
    for c in (world["ratio"], world["threshold"]):
        section = commitment_section(text, c)
        for state, amount in engine_states(books, c).items():
            # At the day before the period (nothing yet: 0) and at its end.
            line = f"{part_label(state)} {format_it(0, 'EUR')} {format_it(amount, 'EUR')}"
            assert line in section, (c, state, line)
    assert format_it(eur("420.00"), "EUR") in text  # raised
    assert format_it(eur("1020.00"), "EUR") in text  # the disbursement of the period
    assert "Da restituire (già erogato)" in text


def commitment_section(text: str, c: int) -> str:
    """The PDF text of one commitment's part: from its heading to the next part's."""
    start = text.index(f"Impegno n. {c}:")
    ends = [i for i in (text.find("Impegno n. ", start + 1), text.find("Verifica")) if i > 0]
    return text[start : min(ends)]


def part_label(state: str) -> str:
    from ledger.statements.grants import STATE_LABELS

    return STATE_LABELS[state]


def test_the_csv_parses_and_its_figures_equal_the_engines(ledger, world):
    books = world["books"]
    got = statement(ledger, books, date(2026, 6, 1), world["today"])
    rows = list(csv.DictReader(io.StringIO(grant_statement_csv(got))))
    for c in (world["ratio"], world["threshold"]):
        figures = {
            r["voce"]: r["importo"]
            for r in rows
            if r["sezione"] == "impegno" and r["impegno"] == str(c) and r["valuta"] == "EUR"
        }
        for state, amount in engine_states(books, c).items():
            assert figures[state] == format_minor(amount, "EUR"), (c, state)
        campaign = {
            r["voce"]: r["importo"]
            for r in rows
            if r["sezione"] == "campagna" and r["impegno"] == str(c)
        }
        assert campaign["raccolto"] == "420.00" and campaign["donazioni"] == "4"
    moves = [(r["voce"], r["importo"]) for r in rows if r["sezione"] == "movimento"]
    assert ("disbursed", "1020.00") in moves
    assert ("clawback_due", "180.00") in moves
    (head,) = [r for r in rows if r["sezione"] == "catena"]
    assert (int(head["importo"]), head["dettaglio"]) == last_entry_until(ledger, world["today"])


def test_a_period_starting_later_opens_with_the_books_of_the_day_before_it(ledger, world):
    books = world["books"]
    after_first_day = world["first_day"] + timedelta(days=1)
    got = statement(ledger, books, after_first_day, world["today"])
    rows = list(csv.DictReader(io.StringIO(grant_statement_csv(got))))
    for part in got.commitments:
        c = part.commitment_id
        assert {s: getattr(part.opening, s) for s in STATES} == world["on_first_day"][c]
        assert {s: getattr(part.states, s) for s in STATES} == engine_states(books, c)
        opening = {
            r["voce"]: r["importo"]
            for r in rows
            if r["sezione"] == "impegno_inizio" and r["impegno"] == str(c)
        }
        assert {s: opening[s] for s in STATES} == {
            s: format_minor(v, "EUR") for s, v in world["on_first_day"][c].items()
        }
        # The pledge was made before the period: only later movements are listed.
        assert "pledged" not in [e.kind for e in part.events]


def test_a_statement_ending_on_an_earlier_day_shows_the_books_of_that_day(ledger, world):
    books = world["books"]
    day = world["first_day"]
    got = statement(ledger, books, day, day)
    for part in got.commitments:
        assert {s: getattr(part.states, s) for s in STATES} == world["on_first_day"][
            part.commitment_id
        ]
    assert (got.head_sequence, got.head_hash) == last_entry_until(ledger, day)
    assert got.head_sequence < last_entry_until(ledger, world["today"])[0]
    campaign = got.commitments[0].campaigns[0]
    assert campaign.raised_minor == eur("360.00")  # 370 given less the 10 refunded that day
    assert campaign.status == "live"  # closed since, but open on that day
    assert all(e.kind != "disbursed" for p in got.commitments for e in p.events)


def test_forfeits_and_clawbacks_kept_under_keep_are_on_the_statement(ledger):
    books = Books(ledger, goal="1000.00", model="all_or_nothing")
    kept = books.commit(ratio="1", clawback_policy="keep", pool_minor=eur("500.00"))
    gift = books.give("100.00", person=books.person("Ginevra"))
    books.refund(gift, "40.00")
    assert books.close() == "failed"
    got = statement(ledger, books, date(2026, 6, 1), rome_today(ledger.clock))
    (part,) = got.commitments
    kinds = [e.kind for e in part.events]
    assert "clawback_kept" in kinds and "forfeited" in kinds
    assert part.kept_to_date_minor == eur("40.00")
    assert part.forfeited_to_date_minor == eur("100.00")
    assert {s: getattr(part.states, s) for s in STATES} == engine_states(books, kept)
    text = pdf_text(render_grant_statement_pdf(got))
    assert "Rimborso senza recupero" in text and "Decaduto" in text


def test_a_period_that_ends_before_it_starts_is_refused(ledger):
    books = Books(ledger)
    with pytest.raises(InvalidStatementPeriodError):
        statement(ledger, books, date(2026, 6, 2), date(2026, 6, 1))


def test_a_commitment_toward_a_call_is_split_per_campaign_and_the_parts_add_up(ledger):
    from tests.integration.grants_helpers import call_with_campaigns

    books = Books(ledger)
    (first, second), c = call_with_campaigns(books, ("500.00", "800.00"))
    books.campaign_id = first
    books.give("30.00")
    books.campaign_id = second
    books.give("45.00")
    books.give("40.00")  # 25 left in the pool: matched 25
    got = statement(ledger, books, date(2026, 6, 1), rome_today(ledger.clock))
    (part,) = got.commitments
    assert [(p.campaign_id, p.budget_minor) for p in part.campaigns] == [
        (first, eur("500.00")),
        (second, eur("800.00")),
    ]
    by_campaign = {p.campaign_id: p.states["reserved"] for p in part.campaigns}
    assert by_campaign == {first: eur("30.00"), second: eur("70.00")}
    engine = engine_states(books, c)
    for state in STATES[1:]:
        assert sum(p.states[state] for p in part.campaigns) == engine[state]
    assert engine["pledged"] == 0 and engine["reserved"] == eur("100.00")
    assert [p.raised_minor for p in part.campaigns] == [eur("30.00"), eur("85.00")]
    text = pdf_text(render_grant_statement_pdf(got))
    assert "Ogni campagna del bando n." in text
