"""Gifts by bank transfer from the web: the campaign page's transfer option, its page
(IBAN, beneficiary, RF reference, EPC QR code), the API, and the loan's reference."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Donation
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.payments.references import creditor_reference, printable
from tests.web.conftest import csrf_token, make_user, sign_in
from tests.web.test_api import Caller, make_caller
from tests.web.test_campaign_pages import app_config, audit_actions, open_campaign
from tests.web.test_fund_pages import seeded
from tests.web.test_fund_pages import treasurer as treasurer_client
from web import create_app
from web.config import ConfigError

IBAN = "IT60X0542811101000000123456"
_FORM_KEY = re.compile(r'name="form_key"[^>]*value="([^"]+)"')


@pytest.fixture
def app(db_url: str, clock: FixedClock) -> Iterator[Flask]:
    application = create_app(app_config(db_url, clock, None, ORGANISATION_IBAN=IBAN))
    yield application
    application.extensions["ledger"].engine.dispose()


def pending(ledger: Ledger) -> list[Donation]:
    def read(s: Session) -> list[Donation]:
        rows = list(s.scalars(select(Donation).where(Donation.method == "bank_transfer")))
        s.expunge_all()
        return rows

    return ledger.read(read)


def test_the_campaign_page_offers_the_transfer_and_a_double_submit_makes_one_gift(
    client: FlaskClient, ledger: Ledger
) -> None:
    campaign_id = open_campaign(ledger)
    page = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert f"/campagne/{campaign_id}/bonifico" in page
    assert "chiedi ai referenti" not in page

    url = f"/campagne/{campaign_id}/bonifico"
    form = client.get(url).get_data(as_text=True)
    key = _FORM_KEY.search(form)
    assert key is not None
    data = {
        "csrf_token": csrf_token(form),
        "form_key": key.group(1),
        "amount": "12,50",
        "donor_name": "Anna Verdi",
    }
    first = client.post(url, data=data)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = client.post(url, data=data)
    assert again.status_code == 200

    gifts = pending(ledger)
    assert len(gifts) == 1
    gift = gifts[0]
    assert (gift.status, gift.amount_minor, gift.anonymous) == ("pending", 1250, True)
    assert gift.transfer_reference == creditor_reference("D", gift.id)
    html = first.get_data(as_text=True)
    assert "IT60 X054 2811 1010 0000 0123 456" in html
    assert "Associazione Quartiere Vivo ODV" in html
    assert printable(gift.transfer_reference) in html
    assert re.search(r'<div class="qr"><svg [^>]*class="segno"', html)
    assert "<script" not in html.split('<div class="qr">', 1)[1].split("</svg>", 1)[0]
    assert audit_actions(ledger).count("donation.transfer_start") == 1
    assert again.get_data(as_text=True).count(printable(gift.transfer_reference)) >= 1


def test_without_an_iban_the_transfer_option_says_it_is_not_available(
    db_url: str, clock: FixedClock, ledger: Ledger
) -> None:
    application = create_app(app_config(db_url, clock, None))
    client = application.test_client()
    campaign_id = open_campaign(ledger)
    page = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert "Le donazioni con bonifico non sono disponibili in questo momento." in page
    assert f"/campagne/{campaign_id}/bonifico" not in page
    transfer = client.get(f"/campagne/{campaign_id}/bonifico").get_data(as_text=True)
    assert "non sono disponibili" in transfer and 'name="amount"' not in transfer
    application.extensions["ledger"].engine.dispose()


@pytest.mark.parametrize(
    "settings",
    [{"ORGANISATION_IBAN": "IT00X0542811101000000123456"}, {"ORGANISATION_BIC": "NOTABIC!"}],
)
def test_an_invalid_iban_or_bic_stops_the_app_at_start(
    db_url: str, clock: FixedClock, settings: dict[str, str]
) -> None:
    with pytest.raises(ConfigError):
        create_app(app_config(db_url, clock, None, **({"ORGANISATION_IBAN": IBAN} | settings)))


@pytest.fixture
def donor(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "donatore@example.org", "Marco Rossi", ["donor"])


def test_the_api_starts_a_transfer_gift_once_per_key(
    client: FlaskClient, ledger: Ledger, donor: Caller
) -> None:
    campaign_id = open_campaign(ledger)
    url = f"/api/v1/campaigns/{campaign_id}/bank-transfers"
    body = {"amount": "12.50", "anonymous": False, "donor": {"full_name": "Marco Rossi"}}
    assert client.post(url, json=body, headers=donor.auth).status_code == 422  # no key
    first = client.post(url, json=body, headers=donor.with_key("t-1"))
    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    gift_id = answer["donation_id"]
    reference = creditor_reference("D", gift_id)
    assert answer == {
        "donation_id": gift_id,
        "status": "pending",
        "amount": "12.50",
        "currency": "EUR",
        "reference": reference,
        "iban": IBAN,
        "bic": None,
        "beneficiary": "Associazione Quartiere Vivo ODV",
        "epc_payload": "\n".join(
            [
                "BCD",
                "002",
                "1",
                "SCT",
                "",
                "Associazione Quartiere Vivo ODV",
                IBAN,
                "EUR12.50",
                "",
                reference,
            ]
        ),
    }
    replay = client.post(url, json=body, headers=donor.with_key("t-1"))
    assert replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == answer
    conflict = client.post(url, json=body | {"amount": "13.00"}, headers=donor.with_key("t-1"))
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert ledger.read(lambda s: s.scalar(select(func.count(Donation.id)))) == 1
    assert client.post(url, json=body, headers={"Idempotency-Key": "anon"}).status_code == 401


def test_the_loan_page_and_statement_show_the_loans_reference(
    client: FlaskClient, ledger: Ledger
) -> None:
    fund_id, product_id = seeded(ledger)
    borrower = make_user(ledger, "mia@example.org", ["proponent"])

    def work(session: Session) -> int:
        from ledger.people.models import User

        user = session.get(User, borrower)
        assert user is not None
        loan = lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=user.person_id,
            principal_minor=100_000,
            term_months=6,
            first_due_on=date(2026, 7, 15),
            key="a",
            clock=ledger.clock,
        )
        lending.disburse_loan(session, loan.id, clock=ledger.clock)
        return loan.id

    loan_id = ledger.run(work)
    reference = creditor_reference("L", loan_id)
    assert sign_in(client, "mia@example.org").status_code == 302
    assert reference in client.get(f"/account/prestiti/{loan_id}").get_data(as_text=True)
    client.post("/logout", data={})
    other = FlaskClient(client.application)
    treasury = treasurer_client(other, ledger)
    assert reference in treasury.get(f"/tesoreria/prestiti/{loan_id}").get_data(as_text=True)
    csv = treasury.get(f"/tesoreria/prestiti/{loan_id}/estratto.csv").get_data(as_text=True)
    assert f"riferimento,{reference}," in csv
