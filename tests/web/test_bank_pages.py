"""The treasurer's bank pages: a new bank account, a real statement file uploaded (and
again: already imported), a refused file that writes nothing until accepted with a
reason, the review queue by status, ignore/book/match from the line page with TOTP,
the upload limit, and a non-treasurer refused."""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.commands import Origin
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.people import totp
from ledger.reconcile.commands import get_bank_account, ignore_line
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAllocation, BankLine, StatementImport
from tests.bank_fixtures import FI_053, FI_054, POSTFINANCE_053, fixture_bytes
from tests.web.conftest import csrf_token, form_post, make_user, sign_in, totp_code

FI = "FI7433010001222090"
CH = "CH2909000000250094239"
BY_HAND = Origin(channel="cli", source="test")
_KEY = re.compile(r'name="form_key"[^>]*value="([^"]+)"')


def _count(ledger: Ledger, model: object) -> int:
    return ledger.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def _treasurer(client: FlaskClient, ledger: Ledger) -> None:
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    assert (
        sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret)).status_code == 302
    )


def _new_account(
    client: FlaskClient, ledger: Ledger, iban: str, code: str, currency: str = "EUR"
) -> int:
    ledger.create_account(code, "asset", currency=currency)
    response = form_post(client, "/banca/nuovo", {"iban": iban, "account": code, "name": "Conto"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return ledger.read(lambda s: get_bank_account(s, iban).id)


def _upload(client: FlaskClient, account_id: int, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/banca/{account_id}/importa").get_data(as_text=True)
    key = _KEY.search(page)
    assert key
    return client.post(
        f"/banca/{account_id}/importa",
        data={
            "csrf_token": csrf_token(page),
            "form_key": key.group(1),
            "format": "auto",
            "preset": "",
            "file": (io.BytesIO(data), "estratto.xml"),
            **fields,
        },
        content_type="multipart/form-data",
    )


def test_upload_a_statement_then_again_says_already_imported(
    client: FlaskClient, ledger: Ledger
) -> None:
    _treasurer(client, ledger)
    account_id = _new_account(client, ledger, "FI74 3301 0001 2220 90", "assets:bank:fi")
    listing = client.get("/banca").get_data(as_text=True)
    assert "FI74 3301 0001 2220 90" in listing and "assets:bank:fi" in listing
    form = client.get(f"/banca/{account_id}/importa").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and "bank-upload.js" in form
    assert 'id="upload-bar"' in form

    first = _upload(client, account_id, fixture_bytes(FI_053))
    assert first.status_code == 302 and "/banca/importazioni/" in first.headers["Location"]
    result = client.get(first.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="new-count">10<', result) and re.search(r'id="known-count">0<', result)
    assert "10.000,00 EUR" in result and "23.644,83 EUR" in result
    again = _upload(client, account_id, fixture_bytes(FI_053))
    assert again.status_code == 302
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="new-count">0<', page) and re.search(r'id="known-count">10<', page)
    assert "Movimenti già importati" in page
    assert _count(ledger, StatementImport) == 2


def test_a_breakdown_of_an_explained_line_is_shown_as_kept_whole(
    client: FlaskClient, ledger: Ledger
) -> None:
    _treasurer(client, ledger)
    account_id = _new_account(client, ledger, FI, "assets:bank:fi")
    assert _upload(client, account_id, fixture_bytes(FI_053)).status_code == 302
    arch04 = ledger.read(
        lambda s: s.scalars(select(BankLine.id).where(BankLine.bank_ref.like("%ARCH04"))).one()
    )
    ledger.run(lambda s: ignore_line(s, arch04, "a mano", origin=BY_HAND, clock=ledger.clock))
    later = _upload(client, account_id, fixture_bytes(FI_054))
    assert later.status_code == 302
    page = client.get(later.headers["Location"]).get_data(as_text=True)
    kept = re.search(r'id="kept-whole">(.*?)</div>', page, re.S)
    assert kept is not None and "già spiegati" in kept.group(1)
    assert re.findall(r'href="/banca/movimenti/(\d+)"', kept.group(1)) == [str(arch04)]


def test_a_refused_file_writes_nothing_and_can_be_accepted_with_a_reason(
    client: FlaskClient, ledger: Ledger
) -> None:
    _treasurer(client, ledger)
    account_id = _new_account(client, ledger, CH, "assets:bank:ch", "CHF")
    refused = _upload(client, account_id, fixture_bytes(POSTFINANCE_053))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "1537.00" in page and "216649.21" in page and "Non è stato importato nulla" in page
    assert _count(ledger, BankLine) == 0 and _count(ledger, StatementImport) == 0
    accepted = _upload(
        client, account_id, fixture_bytes(POSTFINANCE_053), accept_unbalanced="y", reason="FWAV"
    )
    assert accepted.status_code == 302, accepted.get_data(as_text=True)
    result = client.get(accepted.headers["Location"]).get_data(as_text=True)
    assert "accettando un estratto che non quadra" in result
    assert _count(ledger, BankLine) == 5


def test_the_queue_and_the_line_acts(client: FlaskClient, ledger: Ledger) -> None:
    _treasurer(client, ledger)
    account_id = _new_account(client, ledger, FI, "assets:bank:fi")
    ledger.create_account("expenses:bank_fees", "expense")
    assert _upload(client, account_id, fixture_bytes(FI_053)).status_code == 302

    def views():  # type: ignore[no-untyped-def]
        return ledger.read(lambda s: line_views(s, get_bank_account(s, FI)))

    lines = views()
    queue = client.get(f"/banca/{account_id}/movimenti").get_data(as_text=True)
    assert all(f"/banca/movimenti/{v.id}" in queue for v in lines)
    assert (
        client.get(f"/banca/{account_id}/movimenti?stato=ignored")
        .get_data(as_text=True)
        .count("/banca/movimenti/")
        == 0
    )
    assert client.get(f"/banca/{account_id}/movimenti?stato=odd").status_code == 422
    outgoing = [v for v in lines if v.amount_minor < 0]
    incoming = [v for v in lines if v.amount_minor > 0]

    # Ignore, with the form's key: a double submit of one shown form is one act.
    line_page = client.get(f"/banca/movimenti/{outgoing[0].id}").get_data(as_text=True)
    assert "Dati originali della banca" in line_page and 'id="suggerimenti"' in line_page
    token = csrf_token(line_page)
    key = re.findall(r'name="form_key"[^>]*value="([^"]+)"', line_page)
    ignore_key = key[-1]  # the page's last form is the ignore form
    for _ in range(2):
        done = client.post(
            f"/banca/movimenti/{outgoing[0].id}/ignora",
            data={"csrf_token": token, "form_key": ignore_key, "reason": "giroconto"},
        )
        assert done.status_code == 302
    assert _count(ledger, BankAllocation) == 1
    ignored = client.get(f"/banca/{account_id}/movimenti?stato=ignored").get_data(as_text=True)
    assert f"/banca/movimenti/{outgoing[0].id}" in ignored

    empty = form_post(
        client,
        f"/banca/movimenti/{outgoing[1].id}/ignora",
        {"reason": ""},
        page=f"/banca/movimenti/{outgoing[1].id}",
    )
    assert empty.status_code == 422
    booked = form_post(
        client,
        f"/banca/movimenti/{outgoing[1].id}/registra",
        {"account": "expenses:bank_fees", "narration": "Commissioni bancarie"},
        page=f"/banca/movimenti/{outgoing[1].id}",
    )
    assert booked.status_code == 302, booked.get_data(as_text=True)
    booked_list = client.get(f"/banca/{account_id}/movimenti?stato=booked").get_data(as_text=True)
    assert f"/banca/movimenti/{outgoing[1].id}" in booked_list

    sequence = ledger.read(
        lambda s: s.scalar(
            select(JournalEntry.sequence).join(
                BankAllocation,
                (BankAllocation.record_id == JournalEntry.id) & (BankAllocation.kind == "booked"),
            )
        )
    )
    assert sequence is not None
    # The line's page names the entry by its number.
    page = client.get(f"/banca/movimenti/{outgoing[1].id}").get_data(as_text=True)
    assert f"n. {sequence} ·" in page
    target = incoming[0]
    whole = target.amount_minor
    half = whole // 2
    split = {
        "parts-0-kind": "entry",
        "parts-0-record": str(sequence),
        "parts-0-amount": f"{half / 100:.2f}".replace(".", ","),
        "parts-1-kind": "entry",
        "parts-1-record": str(sequence),
        "parts-1-amount": f"{(whole - half) / 100:.2f}".replace(".", ","),
    }
    matched = form_post(
        client, f"/banca/movimenti/{target.id}/abbina", split, page=f"/banca/movimenti/{target.id}"
    )
    assert matched.status_code == 302, matched.get_data(as_text=True)
    assert {v.id: v.status for v in views()}[target.id] == "matched"
    over = form_post(
        client,
        f"/banca/movimenti/{target.id}/abbina",
        {"parts-0-kind": "entry", "parts-0-record": str(sequence), "parts-0-amount": "1,00"},
        page=f"/banca/movimenti/{target.id}",
    )
    assert over.status_code == 422
    refs = form_post(
        client, f"/banca/{account_id}/riferimenti", {}, page=f"/banca/{account_id}/movimenti"
    )
    assert refs.status_code == 302
    assert "Riferimenti applicati" in client.get(refs.headers["Location"]).get_data(as_text=True)


def test_the_upload_limit_refuses_a_larger_file(client: FlaskClient, ledger: Ledger) -> None:
    _treasurer(client, ledger)
    account_id = _new_account(client, ledger, FI, "assets:bank:fi")
    client.application.config["BANK_UPLOAD_MAX_BYTES"] = 2_000
    response = _upload(client, account_id, fixture_bytes(FI_053))
    assert response.status_code == 413
    assert "supera il limite" in response.get_data(as_text=True)
    assert _count(ledger, StatementImport) == 0


def test_a_donor_gets_403_and_a_treasurer_must_confirm_a_code(
    client: FlaskClient, ledger: Ledger
) -> None:
    make_user(ledger, "donatrice@example.org", ["donor"])
    sign_in(client, "donatrice@example.org")
    for path in ["/banca", "/banca/1/movimenti", "/banca/movimenti/1", "/banca/1/importa"]:
        assert client.get(path).status_code == 403, path
    other = client.application.test_client()
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(other, "tesoriere@example.org")
    response = other.get("/banca/1/importa")
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/2fa")
