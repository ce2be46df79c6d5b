"""An e-mail address belongs to whoever can read its mail (issue 12, finding 1).

A registration makes no account until its owner follows the signed, single-use,
expiring link mailed to the address and gives the password chosen; an account
an operator made is unverified until its owner follows a link too. What the
registry links to an address (gifts, receipts, loans) is shown to a verified
account only. An offline gift's receipt carries the donor as the treasurer
typed them; a correction voids the receipt and issues a new one.
"""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger.campaigns.models import Receipt
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.people.models import Person, User
from tests.web.conftest import (
    PASSWORD,
    csrf_token,
    follow_link,
    form_post,
    mailed_link,
    make_user,
    sign_in,
)
from tests.web.test_campaign_pages import (
    audit_actions,
    donations,
    fetch,
    form_values,
    open_campaign,
    pdf_text,
    treasurer,
)
from tests.web.test_fund_pages import seeded

MARIA = "maria.bianchi@example.org"
MARIA_CF = "BNCMRA80A41H501E"
IMPOSTOR_CF = "MPSVIO75C12F205Z"
OWNER_PASSWORD = "la password di maria"


def register(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {
        "full_name": "Anna Rossi",
        "email": "anna@example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "role": "donor",
    }
    data.update(fields)
    return form_post(client, "/register", data)


def record_transfer(desk: FlaskClient, campaign_id: int, **donor: str) -> None:
    html = desk.get("/tesoreria/donazioni/nuova").get_data(as_text=True)
    response = desk.post(
        "/tesoreria/donazioni/nuova",
        data={
            **form_values(html),
            "campaign": str(campaign_id),
            "method": "bank_transfer",
            "amount": "500,00",
            "reference": "CRO 0000123456",
            **donor,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_someone_who_registers_a_donors_address_gets_neither_the_gift_nor_its_receipt(
    app: Flask, ledger: Ledger
) -> None:
    campaign_id = open_campaign(ledger)
    impostor = app.test_client()
    register(
        impostor,
        email=MARIA,
        full_name="Ivo Impostore",
        codice_fiscale=IMPOSTOR_CF,
        password=PASSWORD,
        password_confirm=PASSWORD,
    )
    if impostor.get("/account").status_code != 200:
        sign_in(impostor, MARIA)  # whatever the registry lets the impostor do, they do

    desk = treasurer(app, ledger)
    record_transfer(
        desk,
        campaign_id,
        donor_email=MARIA,
        donor_name="Maria Bianchi",
        donor_codice_fiscale=MARIA_CF,
    )
    [gift] = donations(ledger)

    # The impostor sees nothing of the gift: no receipt, no line on a donations page.
    assert impostor.get(f"/account/donazioni/{gift.id}/ricevuta.pdf").status_code != 200
    mine = impostor.get("/account/donazioni", follow_redirects=True).get_data(as_text=True)
    assert "500,00" not in mine

    # The receipt carries the donor the treasurer typed, never the impostor.
    [receipt] = fetch(ledger, lambda s: list(s.scalars(select(Receipt))))
    printed = pdf_text(desk.get(f"/tesoreria/ricevute/{receipt.id}.pdf").data)
    assert "Maria Bianchi" in printed and MARIA_CF in printed
    assert "Impostore" not in printed and IMPOSTOR_CF not in printed

    # The real owner can still register: the link reaches her mailbox, and with the
    # password she chose it opens her account, where her gift and receipt are.
    owner = app.test_client()
    register(
        owner,
        email=MARIA,
        full_name="Maria Bianchi",
        codice_fiscale=MARIA_CF,
        password=OWNER_PASSWORD,
        password_confirm=OWNER_PASSWORD,
    )
    link = mailed_link(app, MARIA, "/register/confirm#token=")
    confirmed = follow_link(owner, link, {"password": OWNER_PASSWORD})
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)
    assert "500,00" in owner.get("/account/donazioni").get_data(as_text=True)
    own = owner.get(f"/account/donazioni/{gift.id}/ricevuta.pdf")
    assert own.status_code == 200
    assert "Maria Bianchi" in pdf_text(own.data) and "Impostore" not in pdf_text(own.data)

    # The impostor's registration never became an account.
    assert sign_in(app.test_client(), MARIA, PASSWORD).status_code == 422


def test_a_registration_link_is_refused_tampered_expired_used_or_without_the_password_chosen(
    app: Flask, ledger: Ledger
) -> None:
    client = app.test_client()
    register(client)
    link = mailed_link(app, "anna@example.org", "/register/confirm#token=")
    assert follow_link(client, link[:-3] + "xyz", {"password": PASSWORD}).status_code == 410
    app.config["EMAIL_VERIFY_MAX_AGE"] = -1
    expired = follow_link(client, link, {"password": PASSWORD})
    assert expired.status_code == 410 and "scaduto" in expired.get_data(as_text=True)
    app.config["EMAIL_VERIFY_MAX_AGE"] = 86400

    wrong = follow_link(client, link, {"password": "non è quella scelta"})
    assert wrong.status_code == 422
    assert "non è quella scelta alla registrazione" in wrong.get_data(as_text=True)
    assert fetch(ledger, lambda s: s.scalars(select(User)).first()) is None

    assert follow_link(client, link, {"password": PASSWORD}).status_code == 302
    assert client.get("/account").status_code == 200
    form_post(client, "/logout", {}, page="/account")
    for given in ({}, {"password": PASSWORD}):
        used = follow_link(client, link, given)
        assert used.status_code == 410 and "già stato usato" in used.get_data(as_text=True)


def test_an_account_made_by_an_operator_sees_its_gifts_and_loans_once_it_confirms_its_address(
    app: Flask, ledger: Ledger
) -> None:
    campaign_id = open_campaign(ledger)
    carla = make_user(ledger, "carla@example.org", ["donor", "proponent"], verified=False)
    desk = treasurer(app, ledger)
    record_transfer(desk, campaign_id, donor_email="carla@example.org")
    [gift] = donations(ledger)
    fund_id, product_id = seeded(ledger)

    def open_loan(session):  # type: ignore[no-untyped-def]
        person_id = session.get(User, carla).person_id
        return lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=person_id,
            principal_minor=100_000,
            term_months=6,
            first_due_on=date(2026, 7, 15),
            key="carla",
            clock=ledger.clock,
        ).id

    loan_id = ledger.run(open_loan)

    client = app.test_client()
    assert sign_in(client, "carla@example.org").status_code == 302
    assert "500,00" not in client.get("/account/donazioni").get_data(as_text=True)
    assert client.get(f"/account/donazioni/{gift.id}/ricevuta.pdf").status_code == 404
    assert f"Prestito n. {loan_id}" not in client.get("/account/prestiti").get_data(as_text=True)
    assert client.get(f"/account/prestiti/{loan_id}").status_code == 404
    assert "da confermare" in client.get("/account").get_data(as_text=True)

    assert form_post(client, "/account/email", {}, page="/account").status_code == 302
    link = mailed_link(app, "carla@example.org", "/account/email/confirm#token=")
    path, _sep, token = link.partition("#token=")
    # The link alone is not enough: it works for the account it was made for, signed in.
    stranger = app.test_client()
    assert stranger.get(path).status_code == 302  # to the sign-in page
    make_user(ledger, "altro@example.org", ["donor"])
    sign_in(stranger, "altro@example.org")
    assert follow_link(stranger, link, {}).status_code == 410
    assert form_post(stranger, path, {"token": token}, page="/account").status_code == 410

    assert follow_link(client, link, {}).status_code == 302
    assert "500,00" in client.get("/account/donazioni").get_data(as_text=True)
    assert client.get(f"/account/donazioni/{gift.id}/ricevuta.pdf").status_code == 200
    assert f"Prestito n. {loan_id}" in client.get("/account/prestiti").get_data(as_text=True)
    assert follow_link(client, link, {}).status_code == 410  # once only
    assert "user.email_verify" in audit_actions(ledger)


def test_a_donor_corrects_their_name_and_their_receipt_is_voided_and_issued_again(
    app: Flask, ledger: Ledger
) -> None:
    campaign_id = open_campaign(ledger)
    make_user(ledger, "anna@example.org", ["donor"])
    desk = treasurer(app, ledger)
    record_transfer(desk, campaign_id, donor_email="anna@example.org")
    [gift] = donations(ledger)
    client = app.test_client()
    sign_in(client, "anna@example.org")

    page = client.get("/account/dati").get_data(as_text=True)
    assert 'value="Anna"' in page
    response = form_post(
        client, "/account/dati", {"full_name": "Anna Rossi", "codice_fiscale": "RSSMRA85T10A562S"}
    )
    assert response.status_code == 302
    receipts = fetch(ledger, lambda s: list(s.scalars(select(Receipt).order_by(Receipt.id))))
    assert [(r.number, r.donor_name, r.voided_on is not None) for r in receipts] == [
        (1, "Anna", True),
        (2, "Anna Rossi", False),
    ]
    printed = pdf_text(client.get(f"/account/donazioni/{gift.id}/ricevuta.pdf").data)
    assert "Anna Rossi" in printed and "RSSMRA85T10A562S" in printed
    assert "ANNULLATA" not in printed
    assert "person.correct" in audit_actions(ledger)

    # An account that has not confirmed its address corrects nothing.
    make_user(ledger, "ivo@example.org", ["donor"], verified=False)
    other = app.test_client()
    sign_in(other, "ivo@example.org")
    assert other.get("/account/dati").status_code == 302


def test_the_treasurer_corrects_the_donor_of_a_receipt_and_a_persons_name(
    app: Flask, ledger: Ledger
) -> None:
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    record_transfer(desk, campaign_id, donor_email="maria@example.org", donor_name="Maria Biachi")
    [gift] = donations(ledger)
    url = f"/tesoreria/donazioni/{gift.id}/ricevuta"
    html = desk.get(url).get_data(as_text=True)
    assert 'value="Maria Biachi"' in html
    data = {**form_values(html), "full_name": "Maria Bianchi", "codice_fiscale": MARIA_CF}
    first = desk.post(url, data=data)
    second = desk.post(url, data=data)
    assert first.status_code == second.status_code == 302
    receipts = fetch(ledger, lambda s: list(s.scalars(select(Receipt).order_by(Receipt.id))))
    assert [(r.donor_name, r.voided_on is not None) for r in receipts] == [
        ("Maria Biachi", True),
        ("Maria Bianchi", False),
    ]
    detail = desk.get(f"/tesoreria/donazioni/{gift.id}").get_data(as_text=True)
    assert "Maria Bianchi" in detail
    assert audit_actions(ledger).count("receipt.reissue") == 1

    # The person registered under the address is corrected on their own page.
    person_id = gift.person_id
    html = desk.get(f"/tesoreria/persone/{person_id}/dati").get_data(as_text=True)
    response = desk.post(
        f"/tesoreria/persone/{person_id}/dati",
        data={"csrf_token": csrf_token(html), "full_name": "Maria Anna Bianchi"},
    )
    assert response.status_code == 302
    assert fetch(ledger, lambda s: s.get(Person, person_id).full_name) == "Maria Anna Bianchi"
