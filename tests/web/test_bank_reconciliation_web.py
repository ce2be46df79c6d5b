"""The reconciliation report on the treasurer's page and in the API, for the real FI
camt.053 sample: before the books have the account's opening balance the difference
is exactly that balance (10,000.00) and the page says bank and books disagree; once
it is booked the difference is zero. The PDF and CSV downloads carry the same report.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask.testing import FlaskClient

from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people import totp
from ledger.reconcile.commands import create_bank_account, get_bank_account, import_statement
from ledger.reconcile.report import reconciliation
from tests.bank_fixtures import FI_053, fixture_bytes
from tests.web.conftest import csrf_token, make_user, sign_in, totp_code
from tests.web.test_api import make_caller

FI = "FI7433010001222090"
CLI = Origin(channel="cli", source="test")
LATE = date(2099, 12, 31)


def _account_with_statement(ledger: Ledger) -> tuple[int, date]:
    ledger.create_account("assets:bank:fi", "asset")
    ledger.create_account("equity:opening", "equity")

    def work(s):  # type: ignore[no-untyped-def]
        create_bank_account(
            s, iban=FI, account_code="assets:bank:fi", origin=CLI, clock=ledger.clock
        )
        import_statement(s, FI, fixture_bytes(FI_053), origin=CLI, clock=ledger.clock)
        return get_bank_account(s, FI).id

    account_id = ledger.run(work)
    first = ledger.read(lambda s: reconciliation(s, FI, LATE).from_date)
    assert first is not None
    return account_id, first


def _book_opening(ledger: Ledger, first: date) -> None:
    ledger.post(
        EntrySpec(
            idempotency_key="opening",
            kind="opening",
            postings=[
                PostingSpec("assets:bank:fi", Money(1_000_000, "EUR")),
                PostingSpec("equity:opening", Money(-1_000_000, "EUR")),
            ],
            effective_on=first - timedelta(days=1),
            narration="Saldo di apertura",
        )
    )


def _difference(page: str) -> str:
    found = re.search(r'id="difference"[^>]*>([^<]+)<', page)
    assert found, page
    return found.group(1).strip()


def test_the_page_shows_the_difference_and_the_files_carry_the_report(
    client: FlaskClient, ledger: Ledger
) -> None:
    account_id, first = _account_with_statement(ledger)
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))

    page = client.get(f"/banca/{account_id}/riconciliazione?al={LATE.isoformat()}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "10.000,00" in _difference(text) and 'role="alert"' in text
    assert "23.644,83" in text  # the bank's closing balance

    _book_opening(ledger, first)
    text = client.get(f"/banca/{account_id}/riconciliazione?al={LATE.isoformat()}").get_data(
        as_text=True
    )
    assert re.fullmatch(r"0,00\s*(EUR|€)?", _difference(text).replace("\xa0", " ")), text
    assert 'role="alert"' not in text

    pdf = client.get(f"/banca/{account_id}/riconciliazione.pdf?al={LATE.isoformat()}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    csv = client.get(f"/banca/{account_id}/riconciliazione.csv?al={LATE.isoformat()}")
    assert csv.status_code == 200 and "23644.83" in csv.get_data(as_text=True)

    bad = client.get(f"/banca/{account_id}/riconciliazione?al=31-12-2099")
    assert bad.status_code == 422


def test_the_api_answers_the_report_and_refuses_a_donor(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    account_id, first = _account_with_statement(ledger)
    _book_opening(ledger, first)
    t = make_caller(ledger, clock, "tesoriere@example.org", "Tesoriere", ["treasurer"])
    url = f"/api/v1/bank-accounts/{account_id}/reconciliation?as_of={LATE.isoformat()}"
    body = client.get(url, headers=t.auth).get_json()
    assert (body["bank_balance"], body["book_balance"], body["difference"]) == (
        "23644.83",
        "10000.00",
        "0.00",
    )
    assert body["unexplained_total"] == "13644.83"
    assert [h["account"] for h in body["held_accounts"]] == ["assets:bank:fi"]
    pdf = client.get(url + "&format=pdf", headers=t.auth)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(url + "&format=xml", headers=t.auth).status_code == 422
    missing = client.get("/api/v1/bank-accounts/999/reconciliation", headers=t.auth)
    assert missing.status_code == 404

    donor = make_caller(ledger, clock, "donatrice@example.org", "Donatrice", ["donor"])
    assert client.get(url, headers=donor.auth).status_code == 403


def test_a_fund_cash_account_is_held_from_the_page_and_the_api_once(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    account_id, _first = _account_with_statement(ledger)
    ledger.create_account("assets:funds:1:cash", "asset")
    ledger.create_account("assets:funds:2:cash", "asset")
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    page = client.get(f"/banca/{account_id}/riconciliazione").get_data(as_text=True)
    key = re.search(r'name="form_key"[^>]*value="([^"]+)"', page)
    assert key
    fields = {"csrf_token": csrf_token(page), "form_key": key.group(1)}
    for _ in range(2):  # a double submit holds it once
        sent = client.post(
            f"/banca/{account_id}/conti-tenuti", data={**fields, "account": "assets:funds:1:cash"}
        )
        assert sent.status_code == 302
    held = ledger.read(lambda s: [h.code for h in reconciliation(s, FI, LATE).held])
    assert held == ["assets:bank:fi", "assets:funds:1:cash"]

    t = make_caller(ledger, clock, "api@example.org", "Tesoriere API", ["treasurer"])
    url = f"/api/v1/bank-accounts/{account_id}/holdings"
    first = client.post(url, json={"account": "assets:funds:2:cash"}, headers=t.with_key("h-1"))
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["held_accounts"] == [
        "assets:bank:fi",
        "assets:funds:1:cash",
        "assets:funds:2:cash",
    ]
    again = client.post(url, json={"account": "assets:funds:2:cash"}, headers=t.with_key("h-1"))
    assert again.status_code == 200
    conflict = client.post(url, json={"account": "assets:funds:1:cash"}, headers=t.with_key("h-1"))
    assert conflict.status_code == 409
    refused = client.post(url, json={"account": "equity:opening"}, headers=t.with_key("h-2"))
    assert refused.status_code == 422
