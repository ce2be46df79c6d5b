"""Funds and microloans in the JSON API: decimal strings, Idempotency-Key, own loans only."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask.testing import FlaskClient
from pypdf import PdfReader

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds.accounts import FundAccounts
from ledger.people.models import User
from tests.web.test_api import Caller, make_caller

API = "/api/v1"


def treasurer(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "tesoriera@example.org", "Giulia Bianchi", ["treasurer"])


def person_of(ledger: Ledger, caller: Caller) -> int:
    def read(session):  # type: ignore[no-untyped-def]
        user = session.get(User, caller.user_id)
        return user.person_id

    return int(ledger.read(read))


def fund_with_product(client: FlaskClient, t: Caller) -> tuple[int, int]:
    fund = client.post(
        f"{API}/funds",
        json={"name": "Fondo rotativo", "kind": "revolving"},
        headers=t.with_key("f1"),
    )
    assert fund.status_code == 201, fund.get_json()
    fund_id = fund.get_json()["id"]
    money_in = client.post(
        f"{API}/funds/{fund_id}/deposits",
        json={"amount": "10000.00", "source": "foundation_grant", "reference": "bonifico 17"},
        headers=t.with_key("d1"),
    )
    assert money_in.status_code == 201, money_in.get_json()
    product = client.post(
        f"{API}/funds/{fund_id}/products",
        json={
            "name": "Microcredito 6%",
            "min_amount": "500.00",
            "max_amount": "10000.00",
            "annual_rate": "0.06",
            "method": "declining_equal_instalments",
            "min_term_months": 6,
            "max_term_months": 24,
        },
        headers=t.auth,
    )
    assert product.status_code == 201, product.get_json()
    return fund_id, product.get_json()["id"]


def test_money_in_answers_once_and_a_replay_writes_nothing(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = treasurer(ledger, clock)
    fund_id, _product = fund_with_product(client, t)
    body = {"amount": "250.00", "source": "donation"}
    first = client.post(f"{API}/funds/{fund_id}/deposits", json=body, headers=t.with_key("d2"))
    again = client.post(f"{API}/funds/{fund_id}/deposits", json=body, headers=t.with_key("d2"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == again.get_json()
    conflict = client.post(
        f"{API}/funds/{fund_id}/deposits",
        json={"amount": "251.00", "source": "donation"},
        headers=t.with_key("d2"),
    )
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 1_025_000
    for bad in ({"amount": 250.0, "source": "donation"}, {"amount": "2.505", "source": "donation"}):
        refused = client.post(f"{API}/funds/{fund_id}/deposits", json=bad, headers=t.with_key("x"))
        assert refused.status_code == 422
    missing_key = client.post(f"{API}/funds/{fund_id}/deposits", json=body, headers=t.auth)
    assert missing_key.status_code == 422
    assert missing_key.get_json()["error"]["code"] == "idempotency_key_required"
    longest = client.post(
        f"{API}/funds/{fund_id}/deposits", json=body, headers=t.with_key("k" * 200)
    )
    assert longest.status_code == 201, longest.get_json()  # the API's longest key fits
    position = client.get(f"{API}/funds/{fund_id}", headers=t.auth).get_json()["position"]
    assert (position["cash"], position["available"], position["par30"]) == (
        "10500.00",
        "10500.00",
        "0",
    )


def test_a_loan_through_the_api_refuses_more_than_the_fund_holds_and_is_repaid(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = treasurer(ledger, clock)
    borrower = make_caller(ledger, clock, "b@example.org", "Anna Verdi", ["proponent"])
    fund_id, product_id = fund_with_product(client, t)
    loan = {
        "product_id": product_id,
        "borrower_person_id": person_of(ledger, borrower),
        "principal": "5000.00",
        "term_months": 12,
        "first_due_on": "2026-07-15",
    }
    made = [
        client.post(f"{API}/funds/{fund_id}/loans", json=loan, headers=t.with_key(f"l{n}"))
        for n in range(3)
    ]
    assert [r.status_code for r in made] == [201, 201, 201]
    ids = [r.get_json()["id"] for r in made]
    paid = [
        client.post(
            f"{API}/loans/{i}/disburse",
            json={"disbursed_on": "2026-06-15"},
            headers=t.with_key(f"e{i}"),
        )
        for i in ids
    ]
    # 10,000.00 lends two loans of 5,000.00; the third is refused with nothing written.
    assert [r.status_code for r in paid] == [201, 201, 409]
    assert paid[2].get_json()["error"]["code"] == "fund_insufficient"
    a = FundAccounts(fund_id)
    assert (ledger.balance(a.cash).posted, ledger.balance(a.loans_receivable).posted) == (
        0,
        1_000_000,
    )

    schedule = client.get(f"{API}/loans/{ids[0]}/schedule", headers=t.auth).get_json()
    totals = [line["total"] for line in schedule["instalments"]]
    assert totals[0] == "430.33" and totals[-1] == "430.35"

    clock.instant = datetime(2026, 7, 20, 9, tzinfo=UTC)
    repaid = client.post(
        f"{API}/loans/{ids[0]}/repayments",
        json={"amount": "500.00", "received_on": "2026-07-20"},
        headers=t.with_key("p1"),
    )
    assert repaid.status_code == 201, repaid.get_json()
    split = repaid.get_json()
    # 430.33 settles July (interest 25.00, principal 405.33); the other 69.67 pays August in
    # advance, interest first (22.97), then principal (46.70).
    assert (split["fees"], split["interest"], split["principal"], split["overpayment"]) == (
        "0.00",
        "47.97",
        "452.03",
        "0.00",
    )
    assert ledger.balance(a.cash).posted == 50_000
    assert ledger.balance(a.interest).posted == 4_797
    # The answer, its replay and the schedule print the number the entry got at COMMIT.
    entry = ledger.entry(split["sequence"])
    assert (entry.kind, entry.metadata["repayment_id"]) == ("repayment", split["id"])
    replay = client.post(
        f"{API}/loans/{ids[0]}/repayments",
        json={"amount": "500.00", "received_on": "2026-07-20"},
        headers=t.with_key("p1"),
    )
    assert replay.get_json()["sequence"] == split["sequence"]
    listed = client.get(f"{API}/loans/{ids[0]}/schedule", headers=t.auth).get_json()
    assert [r["sequence"] for r in listed["repayments"]] == [split["sequence"]]
    # 500.00 back in the fund does not cover a third loan of 5,000.00.
    still = client.post(
        f"{API}/loans/{ids[2]}/disburse",
        json={"disbursed_on": "2026-07-01"},
        headers=t.with_key("e-again"),
    )
    assert still.status_code == 409
    # After its first due date a loan is not disbursed: the schedule would be wrong.
    late = client.post(f"{API}/loans/{ids[2]}/disburse", json={}, headers=t.with_key("e-late"))
    assert late.status_code == 422 and late.get_json()["error"]["code"] == "invalid_loan"

    # The borrower sees their loan; a stranger does not.
    mine = client.get(f"{API}/me/loans", headers=borrower.auth).get_json()["loans"]
    assert {loan["id"] for loan in mine} == set(ids)
    stranger = make_caller(ledger, clock, "s@example.org", "Sara Neri", ["donor"])
    assert client.get(f"{API}/loans/{ids[0]}", headers=stranger.auth).status_code == 404
    assert client.get(f"{API}/loans/{ids[0]}/statement", headers=stranger.auth).status_code == 404
    own = client.get(f"{API}/loans/{ids[0]}/statement", headers=borrower.auth)
    assert own.status_code == 200 and own.mimetype == "application/pdf"
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(own.data)).pages).split()
    )
    assert "Capitale residuo 4.547,97 EUR" in text


def test_write_off_and_recovery_and_the_fund_statement_as_csv(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = treasurer(ledger, clock)
    borrower = make_caller(ledger, clock, "c@example.org", "Carla Blu", ["proponent"])
    fund_id, product_id = fund_with_product(client, t)
    loan_id = client.post(
        f"{API}/funds/{fund_id}/loans",
        json={
            "product_id": product_id,
            "borrower_person_id": person_of(ledger, borrower),
            "principal": "1000.00",
            "term_months": 6,
            "first_due_on": "2026-07-15",
        },
        headers=t.with_key("l"),
    ).get_json()["id"]
    assert (
        client.post(f"{API}/loans/{loan_id}/disburse", headers=t.with_key("e")).status_code == 201
    )
    clock.instant = datetime(2026, 11, 2, 9, tzinfo=UTC)
    gone = client.post(f"{API}/loans/{loan_id}/write-off", json={}, headers=t.with_key("w"))
    assert gone.status_code == 201, gone.get_json()
    assert gone.get_json()["principal"] == "1000.00"
    back = client.post(
        f"{API}/loans/{loan_id}/recoveries",
        json={"amount": "300.00", "received_on": "2026-11-02"},
        headers=t.with_key("r"),
    )
    assert back.status_code == 201 and back.get_json()["principal"] == "300.00"
    assert ledger.entry(gone.get_json()["sequence"]).kind == "write_off"
    assert ledger.entry(back.get_json()["sequence"]).kind == "recovery"
    a = FundAccounts(fund_id)
    assert ledger.balance(a.loan_losses).posted == 100_000
    assert ledger.balance(a.recoveries).posted == 30_000
    csv_text = client.get(
        f"{API}/funds/{fund_id}/statement?format=csv&from=2026-01-01&to=2026-11-30", headers=t.auth
    ).get_data(as_text=True)
    assert "Crediti stralciati: capitale,1000.00,EUR" in csv_text
    assert "Recuperi su crediti stralciati,300.00,EUR" in csv_text
    assert (
        f"Saldo finale del conto del fondo,{ledger.balance(a.cash).posted // 100}.00,EUR"
        in csv_text
    )
    bad = client.get(f"{API}/funds/{fund_id}/statement?format=doc", headers=t.auth)
    assert bad.status_code == 422


def test_an_overpayment_is_answered_and_paid_back_through_the_api(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = treasurer(ledger, clock)
    borrower = make_caller(ledger, clock, "d@example.org", "Dora Gialli", ["proponent"])
    fund_id, product_id = fund_with_product(client, t)
    loan_id = client.post(
        f"{API}/funds/{fund_id}/loans",
        json={
            "product_id": product_id,
            "borrower_person_id": person_of(ledger, borrower),
            "principal": "600.00",
            "term_months": 6,
            "first_due_on": "2026-07-15",
        },
        headers=t.with_key("l"),
    ).get_json()["id"]
    assert (
        client.post(f"{API}/loans/{loan_id}/disburse", headers=t.with_key("e")).status_code == 201
    )
    # Paid off on 15 June itself: principal only (no interest accrued yet), 50.00 too much.
    paid = client.post(
        f"{API}/loans/{loan_id}/repayments",
        json={"amount": "650.00", "received_on": "2026-06-15"},
        headers=t.with_key("p"),
    ).get_json()
    assert (paid["principal"], paid["interest"], paid["overpayment"], paid["paid_off_early"]) == (
        "600.00",
        "0.00",
        "50.00",
        True,
    )
    loan = client.get(f"{API}/loans/{loan_id}", headers=borrower.auth).get_json()
    assert (loan["status"], loan["overpayment_owed"]) == ("repaid", "50.00")
    too_much = client.post(
        f"{API}/loans/{loan_id}/overpayment-refunds",
        json={"amount": "50.01"},
        headers=t.with_key("r0"),
    )
    assert too_much.status_code == 422
    back = client.post(
        f"{API}/loans/{loan_id}/overpayment-refunds",
        json={"amount": "50.00"},
        headers=t.with_key("r1"),
    )
    assert back.status_code == 201, back.get_json()
    assert ledger.entry(back.get_json()["sequence"]).kind == "overpayment_refund"
    a = FundAccounts(fund_id)
    assert ledger.balance(a.overpayments).posted == 0
    assert ledger.balance(a.cash).posted == 1_000_000


def test_a_loan_from_a_reservation_cancelled_before_disbursement_gives_the_money_back(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = treasurer(ledger, clock)
    borrower = make_caller(ledger, clock, "e@example.org", "Ezio Rosa", ["proponent"])
    fund_id, product_id = fund_with_product(client, t)

    def reserved(session):  # type: ignore[no-untyped-def]
        from ledger.funds import lending
        from ledger.funds import service as funds

        hold = funds.reserve(session, fund_id, 300_000, key="award-3", clock=clock, purpose="loan")
        loan = lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=person_of(ledger, borrower),
            principal_minor=300_000,
            term_months=12,
            first_due_on=datetime(2026, 7, 15).date(),
            hold_id=hold,
            key="award-3-loan",
            clock=clock,
        )
        return loan.id

    loan_id = ledger.run(reserved)
    a = FundAccounts(fund_id)
    assert ledger.balance(a.cash).available == 700_000
    cancelled = client.post(f"{API}/loans/{loan_id}/cancel", headers=t.auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"{API}/loans/{loan_id}/cancel", headers=t.auth).status_code == 200
    assert ledger.balance(a.cash).available == 1_000_000
    refused = client.post(f"{API}/loans/{loan_id}/disburse", headers=t.with_key("x"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "loan_state"
