"""The bank pages of the review queue's helpers: a suggested pending transfer gift matched
with one click (the gift settled), a line turned into a gift and into a loan repayment
from the line page (TOTP, one effect per shown form, a refusal writes nothing), the
account's rules added, moved and disabled before `Applica riferimenti` books by them,
and the account's own CSV preset set from its page, then used by an upload that names
none. Real use cases on a migrated database; the lines through the real importer."""

from __future__ import annotations

import io
import re
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.campaigns.models import Donation
from ledger.core.service import Ledger
from ledger.funds.models import LoanRepayment
from ledger.people import totp
from ledger.reconcile.commands import get_bank_account
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAllocation, BankLine, BankRule
from ledger.reconcile.parsed import ParsedLine
from tests.integration.test_bank_account_preset import EXPORT
from tests.integration.test_bank_matching import FI, _bank, _import
from tests.integration.test_campaign_commands import new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start
from tests.web.conftest import csrf_token, form_post, make_user, sign_in, totp_code

ON = date(2026, 6, 15)  # the clock's day: the gift was started the same day
_KEY = re.compile(r'name="form_key"[^>]*value="([^"]+)"')


def _treasurer(client: FlaskClient, ledger: Ledger) -> None:
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    assert (
        sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret)).status_code == 302
    )


def _count(ledger: Ledger, model: object, *where: object) -> int:
    return ledger.read(
        lambda s: s.scalar(select(func.count()).select_from(model).where(*where))  # type: ignore[arg-type]
    )


def _status(ledger: Ledger) -> dict[int, str]:
    return ledger.read(lambda s: {v.id: v.status for v in line_views(s, get_bank_account(s, FI))})


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def test_suggestions_and_a_line_turned_into_a_gift_or_a_repayment(
    client: FlaskClient, ledger: Ledger
) -> None:
    campaign_id = new_campaign(ledger)
    pending = start(ledger, campaign_id, "25.00", "pledge")
    loan_id = paid_out(ledger, *fund_with_product(ledger))
    _bank(ledger)
    by_gift, to_gift, to_repay, outgoing = _import(
        ledger,
        [
            ParsedLine(ON, 2500, "BONIFICO ANNA", "r1"),
            ParsedLine(ON, 1000, "BONIFICO PER L'ORTO", "r2"),
            ParsedLine(ON, 3000, "BONIFICO RATA", "r3"),
            ParsedLine(ON, -250, "COMMISSIONI", "r4"),
        ],
    )
    _treasurer(client, ledger)

    # The pending transfer gift of the line's amount is suggested; one click matches it,
    # and the gift is settled (booked to the bank with its receipt).
    page = client.get(f"/banca/movimenti/{by_gift}").get_data(as_text=True)
    card = re.search(
        rf'<li class="line-card suggestion" data-kind="gift" data-record="{pending}">(.*?)</li>',
        page,
        re.S,
    )
    assert card, page
    assert "molto probabile" in card.group(1) and "stesso importo" in card.group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', card.group(1)))
    assert fields["parts-0-kind"] == "gift" and fields["parts-0-amount"] == "25.00"
    for _ in range(2):  # a double click of one shown form is one match
        done = client.post(f"/banca/movimenti/{by_gift}/abbina", data=fields)
        assert done.status_code == 302, done.get_data(as_text=True)
    assert _status(ledger)[by_gift] == "matched"
    assert _count(ledger, BankAllocation, BankAllocation.line_id == by_gift) == 1
    assert ledger.read(lambda s: s.get(Donation, pending).status) == "settled"

    # A line turned into a gift: the form offers the live campaign and what is left.
    page = client.get(f"/banca/movimenti/{to_gift}").get_data(as_text=True)
    gift_form = _section(page, "in-dono")
    assert f'<option value="{campaign_id}"' in gift_form and 'value="10.00"' in gift_form
    key = _KEY.search(gift_form)
    assert key
    data = {
        "csrf_token": csrf_token(page),
        "form_key": key.group(1),
        "campaign": str(campaign_id),
        "amount": "10,00",
    }
    before = _count(ledger, Donation)
    for _ in range(2):
        done = client.post(f"/banca/movimenti/{to_gift}/dono", data=data)
        assert done.status_code == 302, done.get_data(as_text=True)
    assert _count(ledger, Donation) == before + 1
    gift = ledger.read(
        lambda s: s.execute(
            select(Donation.amount_minor, Donation.method, Donation.status)
            .order_by(Donation.id.desc())
            .limit(1)
        ).one()
    )
    assert tuple(gift) == (1000, "bank_transfer", "settled")
    assert _status(ledger)[to_gift] == "matched"
    # A refusal (the line is explained already) shows the use case's message; nothing written.
    again = form_post(
        client,
        f"/banca/movimenti/{to_gift}/dono",
        {"campaign": str(campaign_id), "amount": ""},
        page=f"/banca/movimenti/{by_gift}",
    )
    assert again.status_code == 422 and "nothing is left" in again.get_data(as_text=True)
    assert _count(ledger, Donation) == before + 1
    # An outgoing line has no such forms, and is refused if posted to all the same.
    page = client.get(f"/banca/movimenti/{outgoing}").get_data(as_text=True)
    assert 'id="in-dono"' not in page and 'id="in-rimborso"' not in page
    refused = form_post(
        client,
        f"/banca/movimenti/{outgoing}/rimborso",
        {"loan": str(loan_id), "amount": ""},
        page=f"/banca/movimenti/{outgoing}",
    )
    assert refused.status_code == 422
    assert "Il movimento non può diventare questa registrazione" in refused.get_data(as_text=True)
    assert _count(ledger, LoanRepayment) == 0

    # A line turned into a loan repayment; a suggested loan pre-fills the form.
    page = client.get(f"/banca/movimenti/{to_repay}?prestito={loan_id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{loan_id}"', _section(page, "in-rimborso"))
    done = form_post(
        client,
        f"/banca/movimenti/{to_repay}/rimborso",
        {"loan": str(loan_id), "amount": "30,00"},
        page=f"/banca/movimenti/{to_repay}",
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    assert _count(ledger, LoanRepayment) == 1 and _status(ledger)[to_repay] == "matched"
    assert "Movimento registrato come rimborso" in client.get(done.headers["Location"]).get_data(
        as_text=True
    )


def _rule_names(ledger: Ledger) -> list[tuple[str, bool]]:
    return ledger.read(
        lambda s: [
            (r.name, r.active)
            for r in s.scalars(select(BankRule).order_by(BankRule.position, BankRule.id))
        ]
    )


def test_rules_added_moved_and_disabled_then_applied(client: FlaskClient, ledger: Ledger) -> None:
    _bank(ledger)
    ledger.create_account("expenses:bank_fees", "expense")
    fee, stamp = _import(
        ledger,
        [
            ParsedLine(ON, -250, "COMMISSIONI TENUTA CONTO", "f1"),
            ParsedLine(ON, -200, "BOLLO", "f2"),
        ],
    )
    account_id = ledger.read(lambda s: get_bank_account(s, FI).id)
    _treasurer(client, ledger)
    assert f"/banca/{account_id}/regole" in client.get("/banca").get_data(as_text=True)
    queue = client.get(f"/banca/{account_id}/movimenti").get_data(as_text=True)
    assert f"/banca/{account_id}/regole" in queue
    assert "Nessuna regola" in client.get(f"/banca/{account_id}/regole").get_data(as_text=True)

    url = f"/banca/{account_id}/regole/nuova"
    page = f"/banca/{account_id}/regole"
    book = {"direction": "out", "action": "book", "account": "expenses:bank_fees"}
    fees = {**book, "name": "Commissioni", "text_contains": "commissioni", "narration": "Spese"}
    assert form_post(client, url, fees, page=page).status_code == 302
    stamps = {
        **book,
        "name": "Bollo",
        "text_regex": "^bollo",
        "narration": "Bollo",
        "position": "1",
    }
    assert form_post(client, url, stamps, page=page).status_code == 302
    assert _rule_names(ledger) == [("Bollo", True), ("Commissioni", True)]
    # A rule without a condition besides its direction is refused; nothing written.
    empty = form_post(client, url, {**book, "name": "Tutto", "narration": "x"}, page=page)
    assert empty.status_code == 422 and "Regola non valida" in empty.get_data(as_text=True)
    assert _count(ledger, BankRule) == 2

    listing = client.get(page).get_data(as_text=True)
    assert listing.index("Bollo") < listing.index("Commissioni")
    assert "la descrizione contiene «commissioni»" in listing and "expenses:bank_fees" in listing
    fees_id, stamps_id = ledger.read(
        lambda s: [
            s.scalar(select(BankRule.id).where(BankRule.name == n))
            for n in ("Commissioni", "Bollo")
        ]
    )
    up = re.search(rf'action="/banca/regole/{fees_id}/sposta">\s*(.*?)</form>', listing, re.S)
    assert up  # the rule's "Su" button: one place up
    position = re.search(r'name="position" value="(\d+)"', up.group(1))
    assert position and position.group(1) == "1"
    moved = client.post(
        f"/banca/regole/{fees_id}/sposta",
        data={
            "csrf_token": csrf_token(listing),
            "form_key": _KEY.findall(up.group(1))[0],
            "position": position.group(1),
        },
    )
    assert moved.status_code == 302
    assert _rule_names(ledger) == [("Commissioni", True), ("Bollo", True)]
    disabled = form_post(client, f"/banca/regole/{stamps_id}/disattiva", {}, page=page)
    assert disabled.status_code == 302
    assert _rule_names(ledger) == [("Commissioni", True), ("Bollo", False)]
    assert "disattivata" in client.get(page).get_data(as_text=True)

    applied = form_post(
        client, f"/banca/{account_id}/riferimenti", {}, page=f"/banca/{account_id}/movimenti"
    )
    assert applied.status_code == 302
    said = client.get(applied.headers["Location"]).get_data(as_text=True)
    assert "1 registrati dalle regole" in said
    assert _status(ledger) == {fee: "booked", stamp: "unexplained"}
    reason = ledger.read(
        lambda s: s.scalar(select(BankAllocation.reason).where(BankAllocation.line_id == fee))
    )
    assert reason == f"rule:{fees_id}"


def test_the_accounts_preset_from_its_page_then_an_upload_that_names_none(
    client: FlaskClient, ledger: Ledger
) -> None:
    _bank(ledger)
    account_id = ledger.read(lambda s: get_bank_account(s, FI).id)
    _treasurer(client, ledger)
    form = client.get(f"/banca/{account_id}/importa").get_data(as_text=True)
    assert f"/banca/{account_id}/colonne" in form and "non ha un suo schema" in form
    url = f"/banca/{account_id}/colonne"
    assert "Nessuno schema" in client.get(url).get_data(as_text=True)
    settings = {
        "date_column": "Booked",
        "date_format": "%d/%m/%Y",
        "value_date_column": "Value",
        "amount_column": "Amount",
        "text_columns": "Payee\r\nDetails",
        "decimal": "en",
        "skip_rows": "2",
        "delimiter": ",",
    }
    bad = form_post(client, url, {**settings, "debit_column": "Out"})
    assert bad.status_code == 422 and "Schema non valido" in bad.get_data(as_text=True)
    saved = form_post(client, url, settings)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    shown = client.get(url).get_data(as_text=True)
    assert 'id="current-preset"' in shown and "Booked" in shown and 'value="Booked"' in shown

    page = client.get(f"/banca/{account_id}/importa").get_data(as_text=True)
    assert "Lo schema del conto" in page
    upload = client.post(
        f"/banca/{account_id}/importa",
        data={
            "csrf_token": csrf_token(page),
            "form_key": _KEY.findall(page)[0],
            "format": "csv",
            "preset": "",
            "file": (io.BytesIO(EXPORT), "movimenti.csv"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302, upload.get_data(as_text=True)
    assert _count(ledger, BankLine) == 3


def test_a_non_treasurer_gets_403_and_a_treasurer_must_confirm_a_code(
    client: FlaskClient, ledger: Ledger
) -> None:
    make_user(ledger, "donatrice@example.org", ["donor"])
    sign_in(client, "donatrice@example.org")
    for path in ["/banca/1/regole", "/banca/1/colonne", "/banca/movimenti/1/dono"]:
        assert client.get(path).status_code == 403, path
    other = client.application.test_client()
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(other, "tesoriere@example.org")
    for path in ["/banca/1/colonne", "/banca/1/regole/nuova", "/banca/regole/1/disattiva"]:
        response = other.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/account/2fa"), path
