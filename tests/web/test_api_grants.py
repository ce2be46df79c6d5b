"""Matching-grant commitments in the JSON API: scope per foundation, decimal strings,
Idempotency-Key, entries, statements and the public "your gift becomes" figure."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from ledger.campaigns.donations import record_offline_donation
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.grants.models import Commitment
from ledger.grants.service import add_officer, create_foundation
from tests.web.test_api import Caller, make_caller
from tests.web.test_campaign_pages import open_campaign

GRANTS = "/api/v1/grants"


@pytest.fixture
def foundations(ledger: Ledger, clock: FixedClock) -> tuple[int, int]:
    def work(session):  # type: ignore[no-untyped-def]
        ours = create_foundation(session, name="Fondazione della Comunità", now=clock.now())
        theirs = create_foundation(session, name="Fondazione Altrove", now=clock.now())
        return ours.id, theirs.id

    return ledger.run(work)


def officer_of(ledger: Ledger, clock: FixedClock, foundation_id: int, email: str) -> Caller:
    caller = make_caller(ledger, clock, email, "Paola Verdi", ["foundation_officer"])
    ledger.run(lambda s: add_officer(s, foundation_id, caller.user_id, now=clock.now()))
    return caller


@pytest.fixture
def officer(ledger, clock, foundations) -> Caller:  # type: ignore[no-untyped-def]
    return officer_of(ledger, clock, foundations[0], "paola@example.org")


def threshold_body(foundation_id: int, campaign_id: int, **extra: object) -> dict[str, object]:
    return {
        "foundation_id": foundation_id,
        "title": "Raccogliete il 40%, aggiungiamo il 60%",
        "kind": "threshold",
        "campaign_id": campaign_id,
        "pool": "3000.00",
        "window_start": "2026-06-01T00:00:00+02:00",
        "window_end": "2026-07-31T23:59:59+02:00",
        "threshold_share": "0.4",
        "topup_share": "0.6",
        "topup_cap": "48000.00",
        **extra,
    }


def give(ledger: Ledger, campaign_id: int, amount: str, key: str) -> None:
    ledger.run(
        lambda s: record_offline_donation(
            s,
            campaign_id,
            Money.parse(amount, "EUR"),
            method="cash",
            person_id=None,
            anonymous=True,
            reference=None,
            request_key=key,
            donated_on=None,
            actor="test",
            clock=ledger.clock,
        )
    )


def test_an_officer_creates_a_threshold_commitment_and_sees_it_release(
    client, ledger, officer, foundations
):
    campaign = open_campaign(ledger, goal="5000.00")
    made = client.post(
        GRANTS, json=threshold_body(foundations[0], campaign), headers=officer.with_key("k-1")
    )
    assert made.status_code == 201, made.json
    body = made.json
    assert body["states"] == {
        "word": "3000.00",
        "pledged": "0.00",
        "reserved": "3000.00",
        "earned": "0.00",
        "released": "0.00",
        "disbursed": "0.00",
        "clawback_due": "0.00",
    }
    assert made.headers["Location"].endswith(f"/grants/{body['id']}")
    give(ledger, campaign, "2000.00", "g-1")
    after = client.get(f"{GRANTS}/{body['id']}", headers=officer.auth).json
    assert after["states"]["released"] == "3000.00"
    assert after["campaigns"][0]["raised"] == "2000.00"
    entries = client.get(f"{GRANTS}/{body['id']}/entries", headers=officer.auth).json["items"]
    assert [e["kind"] for e in entries] == ["grant_pledge", "match_earned", "match_release"]
    assert all(sum(int(p["amount"].replace(".", "")) for p in e["postings"]) == 0 for e in entries)


def test_a_ratio_commitment_2_for_1_is_created_from_decimal_strings(
    client, ledger, officer, foundations
):
    campaign = open_campaign(ledger)
    made = client.post(
        GRANTS,
        json={
            "foundation_id": foundations[0],
            "title": "2 EUR per ogni EUR",
            "kind": "ratio",
            "campaign_id": campaign,
            "pool": "1000.00",
            "ratio": "2",
            "window_start": "2026-06-01T00:00:00+02:00",
            "window_end": "2026-07-31T23:59:59+02:00",
            "methods": ["card", "cash"],
            "donor_cap": "200.00",
        },
        headers=officer.with_key("r-1"),
    )
    assert made.status_code == 201, made.json
    assert made.json["rule"]["ratio"] == "2"
    assert made.json["rule"]["donor_cap"] == "200.00"
    give(ledger, campaign, "10.00", "g-1")
    quote = client.get(f"/api/v1/campaigns/{campaign}/matching?amount=10.00").json
    assert quote["becomes"] == "30.00"
    assert quote["lines"][0]["matched_so_far"] == "20.00"
    assert quote["lines"][0]["adds_now"] == "20.00"


def test_a_replayed_key_answers_the_same_commitment_and_another_request_conflicts(
    client, ledger, officer, foundations
):
    campaign = open_campaign(ledger)
    body = threshold_body(foundations[0], campaign)
    first = client.post(GRANTS, json=body, headers=officer.with_key("same"))
    again = client.post(GRANTS, json=body, headers=officer.with_key("same"))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    other = client.post(GRANTS, json={**body, "pool": "10.00"}, headers=officer.with_key("same"))
    assert other.status_code == 409
    assert ledger.read(lambda s: len(s.scalars(select(Commitment)).all())) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pool": 3000}, "pool"),
        ({"pool": "30.001"}, "pool"),
        ({"threshold_share": "40"}, "threshold_share"),
        ({"threshold_share": 0.4}, "threshold_share"),
        ({"kind": "ratio"}, "ratio"),
        ({"topup_policy": "maybe"}, "topup_policy"),
        ({"window_end": "2026-07-31T23:59:59"}, "window_end"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    client, ledger, officer, foundations, change, field
):
    campaign = open_campaign(ledger)
    answer = client.post(
        GRANTS,
        json={**threshold_body(foundations[0], campaign), **change},
        headers=officer.with_key("bad"),
    )
    assert answer.status_code == 422, answer.json
    details = answer.json["error"]["details"]
    assert field in str(details), details
    assert ledger.read(lambda s: s.scalars(select(Commitment)).all()) == []


def test_a_setting_the_rules_refuse_is_a_422_with_nothing_written(
    client, ledger, officer, foundations
):
    campaign = open_campaign(ledger)
    answer = client.post(
        GRANTS,
        json=threshold_body(foundations[0], campaign, window_start="2026-08-01T00:00:00+02:00"),
        headers=officer.with_key("late"),
    )
    assert answer.status_code == 422
    assert answer.json["error"]["code"] == "invalid_commitment"
    assert ledger.read(lambda s: s.scalars(select(Commitment)).all()) == []


def test_an_officer_sees_only_their_foundations_commitments(
    client, ledger, clock, officer, foundations
):
    campaign = open_campaign(ledger)
    other = officer_of(ledger, clock, foundations[1], "altro@example.org")
    theirs = client.post(
        GRANTS, json=threshold_body(foundations[1], campaign), headers=other.with_key("t")
    ).json["id"]
    ours = client.post(
        GRANTS, json=threshold_body(foundations[0], campaign), headers=officer.with_key("o")
    ).json["id"]
    listed = client.get(GRANTS, headers=officer.auth).json["items"]
    assert [c["id"] for c in listed] == [ours]
    for path in ("", "/entries", "/statement?format=csv"):
        assert client.get(f"{GRANTS}/{theirs}{path}", headers=officer.auth).status_code == 404
    assert (
        client.post(f"{GRANTS}/{theirs}/cancel", headers=officer.with_key("x")).status_code == 404
    )
    # Nor can an officer commit another foundation's money.
    refused = client.post(
        GRANTS, json=threshold_body(foundations[1], campaign), headers=officer.with_key("n")
    )
    assert refused.status_code == 404
    treasurer = make_caller(ledger, clock, "t@example.org", "Tesoriera", ["treasurer"])
    assert len(client.get(GRANTS, headers=treasurer.auth).json["items"]) == 2


def test_cancel_returns_the_pool_and_a_replay_answers_the_same(
    client, ledger, officer, foundations
):
    campaign = open_campaign(ledger)
    made = client.post(
        GRANTS, json=threshold_body(foundations[0], campaign), headers=officer.with_key("c")
    ).json
    url = f"{GRANTS}/{made['id']}/cancel"
    done = client.post(url, headers=officer.with_key("cancel-1"))
    assert done.status_code == 200 and done.json["status"] == "cancelled"
    assert done.json["states"]["reserved"] == "0.00" and done.json["states"]["word"] == "0.00"
    again = client.post(url, headers=officer.with_key("cancel-1"))
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post(url, headers=officer.with_key("cancel-2"))
    assert other.status_code == 409 and other.json["error"]["code"] == "commitment_state"
    assert client.post(url).status_code == 401


def test_the_statement_downloads_as_csv_and_pdf(client, ledger, officer, foundations):
    campaign = open_campaign(ledger, goal="5000.00")
    made = client.post(
        GRANTS, json=threshold_body(foundations[0], campaign), headers=officer.with_key("s")
    ).json
    give(ledger, campaign, "2000.00", "g-1")
    pdf = client.get(f"{GRANTS}/{made['id']}/statement?format=pdf", headers=officer.auth)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    answer = client.get(f"{GRANTS}/{made['id']}/statement?format=csv", headers=officer.auth)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8"))))
    released = ledger.balance(f"assets:grants:{made['id']}:released").posted
    assert released == 300000
    mine = [r for r in rows if r[0] == "impegno" and r[1] == str(made["id"])]
    assert ["impegno", str(made["id"]), "", "released", "3000.00", "EUR"] == mine[
        [r[3] for r in mine].index("released")
    ][:6]
    bad = client.get(f"{GRANTS}/{made['id']}/statement?format=xls", headers=officer.auth)
    assert bad.status_code == 422
