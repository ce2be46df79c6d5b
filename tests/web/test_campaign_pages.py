"""Campaign pages: the public list and page, card gifts, the donor's own gifts, the treasury.

Stripe is the local fake (tests/fakes/stripe_server.py) that the real `stripe`
library talks to over HTTP. A card gift is settled the way the webhook does it:
the fake takes the payment, and its `checkout.session.completed` event is
applied with the charge's facts (`ledger.campaigns.stripe_events.apply_event`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from ledger.audit.models import AuditEvent
from ledger.campaigns.models import Campaign, Donation, Organisation, Receipt, Refund
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.campaigns.stripe_events import ChargeFacts, apply_event
from ledger.core.clock import FixedClock
from ledger.core.models import JournalEntry
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.people import totp
from ledger.people.models import Person
from tests.fakes.stripe_server import FakeStripe
from tests.web.conftest import csrf_token, make_user, sign_in, totp_code
from web import create_app

ORGANISATION_TAX_CODE = "97123450153"
STRIPE_SETTINGS = {"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_test"}
_FORM_KEY = re.compile(r'name="form_key"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="form_key"')


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def app_config(db_url: str, clock: FixedClock, fake: FakeStripe | None, **extra: object):  # type: ignore[no-untyped-def]
    config: dict[str, object] = {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "CLOCK": clock,
        "MAIL_SENDER": "memory",
        "RATELIMIT_ENABLED": False,
        "ORGANISATION_NAME": "Associazione Quartiere Vivo ODV",
        "ORGANISATION_TAX_CODE": ORGANISATION_TAX_CODE,
        "ORGANISATION_QUALIFICATION": "ODV",
    }
    if fake is not None:
        config |= STRIPE_SETTINGS | {"STRIPE_API_BASE": fake.url}
    config |= extra
    return config


@pytest.fixture
def app(db_url: str, clock: FixedClock, fake: FakeStripe) -> Iterator[Flask]:
    application = create_app(app_config(db_url, clock, fake))
    yield application
    application.extensions["ledger"].engine.dispose()


def open_campaign(
    ledger: Ledger,
    *,
    title: str = "Un orto in cortile",
    goal: str = "5000.00",
    description: str = "Semi, attrezzi e un corso per i bambini del quartiere.",
    days: int = 30,
    model: str = "keep_what_you_raise",
    publish: bool = True,
) -> int:
    """A campaign of the organisation of the settings, published unless told otherwise."""

    def work(session):  # type: ignore[no-untyped-def]
        org = session.scalars(
            select(Organisation).where(Organisation.tax_code == ORGANISATION_TAX_CODE)
        ).first() or create_organisation(
            session,
            name="Associazione Quartiere Vivo ODV",
            tax_code=ORGANISATION_TAX_CODE,
            qualification="ODV",
            now=ledger.clock.now(),
        )
        campaign = create_campaign(
            session,
            NewCampaign(
                organisation_id=org.id,
                title=title,
                description_md=description,
                goal_minor=Money.parse(goal, "EUR").minor,
                currency="EUR",
                deadline_at=ledger.clock.now() + timedelta(days=days),
                funding_model=model,
            ),
            clock=ledger.clock,
        )
        if publish:
            publish_campaign(session, campaign.id, clock=ledger.clock)
        return campaign.id

    return ledger.run(work)


def fetch(ledger: Ledger, work):  # type: ignore[no-untyped-def]
    """`ledger.read(work)` with the rows it returns still readable (a read-only unit rolls
    back, which expires what it loaded)."""

    def run(session):  # type: ignore[no-untyped-def]
        result = work(session)
        session.expunge_all()
        return result

    return ledger.read(run)


def form_values(html: str) -> dict[str, str]:
    """The CSRF token and the form key of the first form on a page."""
    match = _FORM_KEY.search(html)
    assert match, "the page has no form_key"
    return {"csrf_token": csrf_token(html), "form_key": match.group(1) or match.group(2)}


def donate(client: FlaskClient, campaign_id: int, amount: str, **extra: str):  # type: ignore[no-untyped-def]
    html = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    return client.post(
        f"/campagne/{campaign_id}", data={**form_values(html), "amount": amount, **extra}
    )


def count(ledger: Ledger, model) -> int:  # type: ignore[no-untyped-def]
    return int(fetch(ledger, lambda s: s.scalar(select(func.count()).select_from(model))))


def donations(ledger: Ledger) -> list[Donation]:
    return fetch(ledger, lambda s: list(s.scalars(select(Donation).order_by(Donation.id))))


def settle_card(ledger: Ledger, fake: FakeStripe, donation_id: int, fee_minor: int = 40) -> str:
    """The donor pays on Stripe and the `checkout.session.completed` event is applied."""
    gift = fetch(ledger, lambda s: s.get(Donation, donation_id))
    assert gift is not None and gift.stripe_session_id
    payment = fake.pay(gift.stripe_session_id, fee_minor=fee_minor)
    event = fake.checkout_completed_event(gift.stripe_session_id)
    facts = ChargeFacts(
        payment.payment_intent_id,
        payment.charge_id,
        gift.amount_minor,
        fee_minor,
        gift.currency,
        donation_id=donation_id,
    )
    return ledger.run(lambda s: apply_event(s, event, facts, clock=ledger.clock))


def card_gift(
    client: FlaskClient,
    ledger: Ledger,
    fake: FakeStripe,
    campaign_id: int,
    amount: str,
    **extra: str,
) -> int:  # type: ignore[no-untyped-def]
    """A card gift through the form, paid and settled; its donation id."""
    response = donate(client, campaign_id, amount, **extra)
    assert response.status_code == 303, response.get_data(as_text=True)
    donation_id = max(d.id for d in donations(ledger))
    assert settle_card(ledger, fake, donation_id) == "applied"
    return donation_id


def treasurer(app: Flask, ledger: Ledger, email: str = "tesoriera@example.org") -> FlaskClient:
    """A client signed in as a treasurer who confirmed a TOTP code."""
    secret = totp.new_secret()
    make_user(ledger, email, ["treasurer"], totp_secret=secret)
    client = app.test_client()
    assert sign_in(client, email, code=totp_code(ledger, secret)).status_code == 302
    return client


def donor(app: Flask, ledger: Ledger, email: str) -> FlaskClient:
    make_user(ledger, email, ["donor"])
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def audit_actions(ledger: Ledger) -> list[str]:
    return fetch(
        ledger, lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    )


# ------------------------------------------------------------------ public pages
def test_the_public_list_shows_live_campaigns_with_progress_donors_and_days_left(client, ledger):
    live = open_campaign(ledger, title="Un orto in cortile", days=10)
    open_campaign(ledger, title="Bozza segreta", publish=False)

    html = client.get("/campagne").get_data(as_text=True)

    assert "Un orto in cortile" in html
    assert "Bozza segreta" not in html
    assert "Associazione Quartiere Vivo ODV" in html
    assert f'<progress id="progress-{live}" value="0" max="500000"' in html
    assert "0,00 EUR di 5.000,00 EUR" in html
    assert "0 donatori" in html
    assert "Mancano 10 giorni" in html
    assert "style=" not in html


def test_a_draft_campaign_is_not_found_by_the_public(client, ledger):
    draft = open_campaign(ledger, publish=False)
    assert client.get(f"/campagne/{draft}").status_code == 404
    assert client.get(f"/campagne/{draft}/grazie").status_code == 404


def test_the_campaign_page_lets_the_form_redirect_to_stripe_checkout_and_nowhere_else(
    client, ledger, fake
):
    campaign_id = open_campaign(ledger)
    response = client.get(f"/campagne/{campaign_id}")
    policy = response.headers["Content-Security-Policy"]
    assert f"form-action 'self' {fake.url};" in policy
    assert "script-src 'self';" in policy
    assert client.get("/campagne").headers["Content-Security-Policy"].count("form-action 'self';")


def test_the_description_is_markdown_rendered_and_sanitised(client, ledger):
    campaign_id = open_campaign(
        ledger,
        description=(
            "# Il progetto\n\nUn **orto** per [il quartiere](https://example.org).\n\n"
            '<script>alert(1)</script>\n\n<p style="color:red">rosso</p>\n\n'
            "[clic](javascript:alert(1)) ![foto](https://example.org/x.png)"
        ),
    )
    html = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert "<strong>orto</strong>" in html
    assert "<h2>Il progetto</h2>" in html  # moved one level down: the page has its h1
    assert 'href="https://example.org"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert "<script>alert" not in html
    assert not re.search(r"<[^>]*\sstyle=", html)
    assert 'href="javascript:' not in html
    assert "<img" not in html


def test_a_double_submit_of_the_donation_form_makes_one_donation_and_one_checkout_session(
    client, ledger, fake
):
    campaign_id = open_campaign(ledger)
    html = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    data = {**form_values(html), "amount": "12,50"}

    first = client.post(f"/campagne/{campaign_id}", data=data)
    second = client.post(f"/campagne/{campaign_id}", data=data)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert first.headers["Location"].startswith(f"{fake.url}/c/pay/cs_test_")
    assert fake.sessions_created == 1
    assert audit_actions(ledger).count("donation.start") == 1
    [gift] = donations(ledger)
    assert (gift.amount_minor, gift.status, gift.method, gift.person_id) == (
        1250,
        "pending",
        "card",
        None,
    )
    session = fake.sessions[gift.stripe_session_id]
    # LEDGER_BASE_URL is unset: the development server's address, not the request's Host.
    assert session["success_url"] == (
        f"http://127.0.0.1:5000/campagne/{campaign_id}/grazie?donazione={gift.id}"
    )
    assert session["cancel_url"] == (
        f"http://127.0.0.1:5000/campagne/{campaign_id}?annullata={gift.id}"
    )


def test_a_forged_host_header_never_reaches_the_stripe_return_urls(db_url, clock, ledger, fake):
    """Stripe sends the donor back to the return URLs: they start with LEDGER_BASE_URL,
    whatever Host the request that started the checkout claimed."""
    app = create_app(app_config(db_url, clock, fake, BASE_URL="https://registro.example.org/"))
    client = app.test_client()
    campaign_id = open_campaign(ledger)
    evil = {"Host": "evil.example"}
    html = client.get(f"/campagne/{campaign_id}", headers=evil).get_data(as_text=True)
    response = client.post(
        f"/campagne/{campaign_id}",
        data={**form_values(html), "amount": "12,50"},
        headers=evil,
    )
    app.extensions["ledger"].engine.dispose()
    assert response.status_code == 303
    [gift] = donations(ledger)
    session = fake.sessions[gift.stripe_session_id]
    assert session["success_url"] == (
        f"https://registro.example.org/campagne/{campaign_id}/grazie?donazione={gift.id}"
    )
    assert session["cancel_url"] == (
        f"https://registro.example.org/campagne/{campaign_id}?annullata={gift.id}"
    )


def test_a_signed_in_donor_is_linked_by_their_person_id(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    client = donor(app, ledger, "anna@example.org")
    assert donate(client, campaign_id, "20").status_code == 303
    [gift] = donations(ledger)
    person = fetch(
        ledger, lambda s: s.scalars(select(Person).where(Person.email == "anna@example.org")).one()
    )
    assert gift.person_id == person.id


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0,50", "L&#39;importo deve essere tra 1,00 EUR e 10.000,00 EUR."),
        ("10.000,01", "L&#39;importo deve essere tra 1,00 EUR e 10.000,00 EUR."),
        ("12,345", "Importo non valido"),
        ("dodici", "Importo non valido"),
        ("0", "maggiore di zero"),
    ],
)
def test_amounts_outside_the_limits_or_malformed_are_refused_without_a_payment(
    client, ledger, fake, amount, message
):
    campaign_id = open_campaign(ledger)
    response = donate(client, campaign_id, amount)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert donations(ledger) == []
    assert fake.sessions_created == 0


def test_without_card_payments_the_page_and_the_form_say_so_and_nothing_is_written(
    db_url, clock, ledger
):
    application = create_app(app_config(db_url, clock, None))
    client = application.test_client()
    campaign_id = open_campaign(ledger)

    page = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert "I pagamenti con carta non sono attivi in questo momento" in page

    token = csrf_token(client.get("/campagne").get_data(as_text=True))
    response = client.post(
        f"/campagne/{campaign_id}",
        data={"csrf_token": token, "form_key": "k", "amount": "10"},
    )
    assert response.status_code == 503
    assert "I pagamenti con carta non sono attivi" in response.get_data(as_text=True)
    assert donations(ledger) == []
    application.extensions["ledger"].engine.dispose()


def test_the_thank_you_page_waits_for_the_confirmation_and_the_progress_bar_moves(
    client, ledger, fake
):
    campaign_id = open_campaign(ledger, goal="100.00")
    response = donate(client, campaign_id, "25,00")
    [gift] = donations(ledger)
    thanks = f"/campagne/{campaign_id}/grazie?donazione={gift.id}"

    pending = client.get(thanks).get_data(as_text=True)
    assert "in attesa di conferma" in pending
    assert "25,00 EUR" in pending  # this browser started the gift
    assert "0,00 EUR di 100,00 EUR" in client.get(f"/campagne/{campaign_id}").get_data(as_text=True)

    assert settle_card(ledger, fake, gift.id) == "applied"

    received = client.get(thanks).get_data(as_text=True)
    assert "<strong>ricevuta</strong>" in received
    page = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert '<progress id="progress" value="2500" max="10000"' in page
    assert "25,00 EUR di 100,00 EUR" in page
    assert "25% dell'obiettivo" in page
    assert "1 donatore" in page
    assert response.status_code == 303


def test_another_session_cannot_read_the_status_of_a_card_gift_it_did_not_start(
    app, client, ledger, fake
):
    """The thank-you page answers only the browser session that started the checkout (or
    the signed-in donor): anyone else trying ids gets the 404 of a gift that does not exist."""
    campaign_id = open_campaign(ledger)
    donate(client, campaign_id, "33,00")
    [gift] = donations(ledger)
    thanks = f"/campagne/{campaign_id}/grazie?donazione={gift.id}"
    assert "in attesa di conferma" in client.get(thanks).get_data(as_text=True)

    stranger = app.test_client().get(thanks)
    unknown = app.test_client().get(f"/campagne/{campaign_id}/grazie?donazione={gift.id + 1}")

    html = stranger.get_data(as_text=True)
    assert stranger.status_code == unknown.status_code == 404
    assert "in attesa di conferma" not in html and "33,00" not in html
    assert "Non troviamo questa donazione" in html
    assert settle_card(ledger, fake, gift.id) == "applied"
    settled = app.test_client().get(thanks)
    assert settled.status_code == 404
    assert "ricevuta" not in settled.get_data(as_text=True).split("<h1>", 1)[1]


def test_a_signed_in_donor_reads_their_own_card_gift_from_another_session(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    anna = donor(app, ledger, "anna@example.org")
    assert donate(anna, campaign_id, "20").status_code == 303
    [gift] = donations(ledger)
    elsewhere = app.test_client()
    assert sign_in(elsewhere, "anna@example.org").status_code == 302
    page = elsewhere.get(f"/campagne/{campaign_id}/grazie?donazione={gift.id}")
    assert page.status_code == 200
    assert "20,00 EUR" in page.get_data(as_text=True)


def test_an_anonymous_gift_shows_no_name_in_public_but_the_treasurer_sees_it(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    anna = donor(app, ledger, "anna.verdi@example.org")
    card_gift(anna, ledger, fake, campaign_id, "40")  # no consent to be named: anonymous
    bruno = donor(app, ledger, "bruno@example.org")
    card_gift(bruno, ledger, fake, campaign_id, "10", show_name="y")

    public = app.test_client()
    page = public.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert "Anonimo" in page
    assert "Bruno" in page
    assert "Anna" not in page and "anna.verdi" not in page
    listing = public.get("/campagne").get_data(as_text=True)
    assert "Anna" not in listing
    api = public.get(f"/api/v1/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Anna" not in api

    desk = treasurer(app, ledger)
    books = desk.get("/tesoreria/donazioni").get_data(as_text=True)
    assert "Anna.Verdi" in books and "anna.verdi@example.org" in books
    assert "anonima al pubblico" in books


# ------------------------------------------------------------------ the donor's own gifts
def test_a_donor_sees_only_their_own_donations_and_another_users_receipt_is_404(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    anna = donor(app, ledger, "anna@example.org")
    bruno = donor(app, ledger, "bruno@example.org")
    annas = card_gift(anna, ledger, fake, campaign_id, "15")
    brunos = card_gift(bruno, ledger, fake, campaign_id, "77,70")

    page = anna.get("/account/donazioni").get_data(as_text=True)
    assert "15,00 EUR" in page and "77,70" not in page
    assert f"/account/donazioni/{annas}/ricevuta.pdf" in page
    assert "ricevuta" in page.lower()

    csv_text = anna.get("/account/donazioni.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("id,campaign_id,campaign,")
    assert f"{annas},{campaign_id},Un orto in cortile," in csv_text
    assert "77.70" not in csv_text
    json_body = anna.get("/account/donazioni.json").get_json()
    assert [d["id"] for d in json_body["donations"]] == [annas]
    assert json_body["donations"][0]["amount"] == "15.00"
    assert json_body["donations"][0]["status"] == "settled"

    own = anna.get(f"/account/donazioni/{annas}/ricevuta.pdf")
    assert own.status_code == 200 and own.mimetype == "application/pdf"
    assert anna.get(f"/account/donazioni/{brunos}/ricevuta.pdf").status_code == 404
    assert anna.get("/account/donazioni/999999/ricevuta.pdf").status_code == 404
    anonymous = app.test_client().get(f"/account/donazioni/{annas}/ricevuta.pdf")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_donors_own_receipt_carries_their_name_even_when_they_gave_anonymously(
    app, ledger, fake
):
    campaign_id = open_campaign(ledger)
    anna = donor(app, ledger, "anna@example.org")
    gift = card_gift(anna, ledger, fake, campaign_id, "50")
    text = pdf_text(anna.get(f"/account/donazioni/{gift}/ricevuta.pdf").data)
    assert "Anna" in text
    assert "Associazione Quartiere Vivo ODV" in text
    assert "ANNULLATA" not in text


@pytest.mark.parametrize("name", ["Иван Петров", "محمد علي", "王小明", "Niccolò Zoë Dell'Acqua"])
def test_a_donor_named_in_any_script_downloads_a_receipt_with_their_name(app, ledger, fake, name):
    campaign_id = open_campaign(ledger)
    client = donor(app, ledger, "ivan@example.org")

    def rename(session):  # type: ignore[no-untyped-def]
        session.scalars(
            select(Person).where(Person.email == "ivan@example.org")
        ).one().full_name = name

    ledger.run(rename)
    gift = card_gift(client, ledger, fake, campaign_id, "50")
    response = client.get(f"/account/donazioni/{gift}/ricevuta.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert name in pdf_text(response.data)


# ------------------------------------------------------------------ the treasury
def test_money_moving_treasury_pages_need_a_confirmed_code_and_reading_does_not(client, ledger):
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(client, "tesoriere@example.org")
    assert client.get("/tesoreria/donazioni").status_code == 200
    assert client.get("/tesoreria/campagne").status_code == 200
    for path in [
        "/tesoreria/donazioni/nuova",
        "/tesoreria/donazioni/1/rimborso",
        "/tesoreria/campagne/nuova",
        "/tesoreria/campagne/1/pubblica",
        "/tesoreria/campagne/1/chiudi",
    ]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/account/2fa"), path


def test_a_cash_refund_is_booked_at_once_and_voids_the_receipt_once_per_form(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    html = desk.get("/tesoreria/donazioni/nuova").get_data(as_text=True)
    desk.post(
        "/tesoreria/donazioni/nuova",
        data={
            **form_values(html),
            "campaign": str(campaign_id),
            "method": "cash",
            "amount": "60,00",
            "donor_email": "carla@example.org",
            "donor_name": "Carla Neri",
        },
    )
    [gift] = donations(ledger)

    refund_page = desk.get(f"/tesoreria/donazioni/{gift.id}/rimborso").get_data(as_text=True)
    data = {**form_values(refund_page), "amount": "20"}
    first = desk.post(f"/tesoreria/donazioni/{gift.id}/rimborso", data=data)
    second = desk.post(f"/tesoreria/donazioni/{gift.id}/rimborso", data=data)

    assert first.status_code == second.status_code == 302
    refunds = fetch(ledger, lambda s: list(s.scalars(select(Refund))))
    assert [(r.amount_minor, r.status) for r in refunds] == [(2000, "succeeded")]
    receipts = fetch(ledger, lambda s: list(s.scalars(select(Receipt).order_by(Receipt.id))))
    assert [(r.amount_minor, r.voided_on is not None) for r in receipts] == [
        (6000, True),
        (4000, False),
    ]
    detail = desk.get(f"/tesoreria/donazioni/{gift.id}").get_data(as_text=True)
    assert "Carla Neri" in detail and "eseguito" in detail
    assert "donation.refund" in audit_actions(ledger)

    void = desk.get(f"/tesoreria/ricevute/{receipts[0].id}.pdf")
    assert void.status_code == 200
    assert "ANNULLATA" in pdf_text(void.data)
    assert "Carla Neri" in pdf_text(void.data)


def test_a_full_refund_leaves_the_donor_a_voided_receipt_marked_annullata(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    anna = donor(app, ledger, "anna@example.org")
    gift = card_gift(anna, ledger, fake, campaign_id, "30")
    desk = treasurer(app, ledger)
    fake.refund_status = "pending"  # Stripe takes its time to confirm this one
    html = desk.get(f"/tesoreria/donazioni/{gift}/rimborso").get_data(as_text=True)
    response = desk.post(f"/tesoreria/donazioni/{gift}/rimborso", data=form_values(html))
    assert response.status_code == 302

    # A card refund waits for Stripe: requested, queued for the outbox, not booked yet.
    [refund] = fetch(ledger, lambda s: list(s.scalars(select(Refund))))
    assert (refund.amount_minor, refund.status) == (3000, "pending")
    kinds = fetch(ledger, lambda s: list(s.scalars(select(OutboxMessage.kind))))
    assert "stripe_refund" in kinds
    again = desk.get(f"/tesoreria/donazioni/{gift}/rimborso").get_data(as_text=True)
    refused = desk.post(f"/tesoreria/donazioni/{gift}/rimborso", data=form_values(again))
    assert refused.status_code == 422
    assert "già in corso" in refused.get_data(as_text=True)

    # Stripe confirms it (as its webhook would): the receipt is voided.
    from ledger.campaigns.refunds import confirm_refund

    ledger.run(lambda s: confirm_refund(s, refund.id, clock=ledger.clock, actor="stripe-webhook"))
    own = anna.get(f"/account/donazioni/{gift}/ricevuta.pdf")
    assert own.status_code == 200
    assert "ANNULLATA" in pdf_text(own.data)
    assert "(annullata)" in anna.get("/account/donazioni").get_data(as_text=True)


def test_a_refund_over_what_remains_is_refused_with_the_maximum(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    gift = card_gift(app.test_client(), ledger, fake, campaign_id, "10")
    desk = treasurer(app, ledger)
    html = desk.get(f"/tesoreria/donazioni/{gift}/rimborso").get_data(as_text=True)
    response = desk.post(
        f"/tesoreria/donazioni/{gift}/rimborso", data={**form_values(html), "amount": "10,01"}
    )
    assert response.status_code == 422
    assert "Si può rimborsare al massimo 10,00 EUR." in response.get_data(as_text=True)
    assert count(ledger, Refund) == 0


def test_the_offline_donation_form_records_a_gift_once_and_keeps_the_donor_out_of_the_journal(
    app, ledger
):
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    html = desk.get("/tesoreria/donazioni/nuova").get_data(as_text=True)
    data = {
        **form_values(html),
        "campaign": str(campaign_id),
        "method": "bank_transfer",
        "amount": "1.234,56",
        "donated_on": "2026-06-12",
        "reference": "RF18 0000 0000 0000 0000 1234",
        "donor_email": "Dario.Bruni@Example.org",
        "donor_name": "Dario Bruni",
        "donor_codice_fiscale": "",
    }
    first = desk.post("/tesoreria/donazioni/nuova", data=data)
    second = desk.post("/tesoreria/donazioni/nuova", data=data)

    assert first.status_code == second.status_code == 302
    [gift] = donations(ledger)
    assert (gift.amount_minor, gift.method, gift.status, str(gift.donated_on)) == (
        123456,
        "bank_transfer",
        "settled",
        "2026-06-12",
    )
    person = fetch(ledger, lambda s: s.get(Person, gift.person_id))
    assert (person.email, person.full_name) == ("dario.bruni@example.org", "Dario Bruni")
    narrations = fetch(ledger, lambda s: list(s.scalars(select(JournalEntry.narration))))
    assert narrations and not any("Dario" in n or "@" in n for n in narrations)
    assert audit_actions(ledger).count("donation.record") == 1
    assert "Questa donazione era già stata registrata." in desk.get(
        second.headers["Location"]
    ).get_data(as_text=True)


def test_a_bank_transfer_without_its_reference_is_refused(app, ledger):
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    html = desk.get("/tesoreria/donazioni/nuova").get_data(as_text=True)
    response = desk.post(
        "/tesoreria/donazioni/nuova",
        data={
            **form_values(html),
            "campaign": str(campaign_id),
            "method": "bank_transfer",
            "amount": "10",
        },
    )
    assert response.status_code == 422
    assert "riferimento" in response.get_data(as_text=True)
    assert donations(ledger) == []


def test_a_donor_named_without_an_e_mail_is_refused(app, ledger):
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    html = desk.get("/tesoreria/donazioni/nuova").get_data(as_text=True)
    response = desk.post(
        "/tesoreria/donazioni/nuova",
        data={
            **form_values(html),
            "campaign": str(campaign_id),
            "method": "cash",
            "amount": "10",
            "donor_name": "Solo Nome",
        },
    )
    assert response.status_code == 422
    assert "serve la sua e-mail" in response.get_data(as_text=True)
    assert donations(ledger) == [] and count(ledger, Person) == 1


def test_a_treasurer_creates_publishes_and_cannot_close_a_campaign_before_its_deadline(
    app, ledger, clock
):
    desk = treasurer(app, ledger)
    html = desk.get("/tesoreria/campagne/nuova").get_data(as_text=True)
    data = {
        **form_values(html),
        "title": "Biblioteca di condominio",
        "description": "Scaffali e **libri**.",
        "goal": "2.500,00",
        "deadline": "2026-07-31",
        "funding_model": "all_or_nothing",
    }
    first = desk.post("/tesoreria/campagne/nuova", data=data)
    second = desk.post("/tesoreria/campagne/nuova", data=data)
    assert first.status_code == second.status_code == 302

    [campaign] = fetch(ledger, lambda s: list(s.scalars(select(Campaign))))
    org = fetch(ledger, lambda s: s.get(Organisation, campaign.organisation_id))
    assert (org.name, org.tax_code, org.qualification) == (
        "Associazione Quartiere Vivo ODV",
        ORGANISATION_TAX_CODE,
        "ODV",
    )
    assert (campaign.status, campaign.goal_minor, campaign.funding_model) == (
        "draft",
        250000,
        "all_or_nothing",
    )
    # The last day for gifts ends at 23:59:59 in Rome (21:59:59 UTC in summer).
    assert campaign.deadline_at.isoformat() == "2026-07-31T21:59:59+00:00"
    assert app.test_client().get(f"/campagne/{campaign.id}").status_code == 404

    listing = desk.get("/tesoreria/campagne").get_data(as_text=True)
    token = csrf_token(listing)
    published = desk.post(f"/tesoreria/campagne/{campaign.id}/pubblica", data={"csrf_token": token})
    assert published.status_code == 302
    assert "Biblioteca di condominio" in app.test_client().get("/campagne").get_data(as_text=True)

    refused = desk.post(f"/tesoreria/campagne/{campaign.id}/chiudi", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "si chiude dopo la scadenza" in refused.get_data(as_text=True)

    clock.instant += timedelta(days=60)
    closed = desk.post(f"/tesoreria/campagne/{campaign.id}/chiudi", data={"csrf_token": token})
    assert closed.status_code == 302
    assert fetch(ledger, lambda s: s.get(Campaign, campaign.id)).status == "closed"
    actions = audit_actions(ledger)
    for action in ("organisation.create", "campaign.create", "campaign.publish", "campaign.close"):
        assert actions.count(action) == 1, action


def test_a_publish_button_without_its_csrf_token_changes_nothing(app, ledger):
    campaign_id = open_campaign(ledger, publish=False)
    desk = treasurer(app, ledger)
    response = desk.post(f"/tesoreria/campagne/{campaign_id}/pubblica", data={})
    assert response.status_code == 400
    assert fetch(ledger, lambda s: s.get(Campaign, campaign_id)).status == "draft"


@pytest.mark.parametrize(
    ("tax_code", "message"),
    [(None, "Manca il codice fiscale dell"), ("12345", "non è valido")],
)
def test_a_campaign_needs_a_valid_organisation_tax_code_in_the_settings(
    db_url, clock, ledger, fake, tax_code, message
):
    application = create_app(app_config(db_url, clock, fake, ORGANISATION_TAX_CODE=tax_code))
    desk = treasurer(application, ledger)
    html = desk.get("/tesoreria/campagne/nuova").get_data(as_text=True)
    response = desk.post(
        "/tesoreria/campagne/nuova",
        data={
            **form_values(html),
            "title": "Titolo",
            "goal": "100",
            "deadline": "2026-07-31",
            "funding_model": "keep_what_you_raise",
        },
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(ledger, Campaign) == 0 and count(ledger, Organisation) == 0
    application.extensions["ledger"].engine.dispose()


def test_the_treasurer_list_filters_and_highlights_flagged_donations(app, ledger, fake):
    first = open_campaign(ledger, title="Prima")
    second = open_campaign(ledger, title="Seconda")
    client = app.test_client()
    donate(client, first, "11")
    donate(client, second, "22")
    flagged = donations(ledger)[0].id
    ledger.run(lambda s: setattr(s.get(Donation, flagged), "flagged_reason", "importo diverso"))
    desk = treasurer(app, ledger)

    everything = desk.get("/tesoreria/donazioni").get_data(as_text=True)
    assert "11,00 EUR" in everything and "22,00 EUR" in everything
    assert 'class="flagged"' in everything and "importo diverso" in everything

    only_second = desk.get(f"/tesoreria/donazioni?campagna={second}").get_data(as_text=True)
    assert "22,00 EUR" in only_second and "11,00 EUR" not in only_second
    only_flagged = desk.get("/tesoreria/donazioni?segnalate=1").get_data(as_text=True)
    assert "11,00 EUR" in only_flagged and "22,00 EUR" not in only_flagged
    assert "Nessuna donazione" in desk.get("/tesoreria/donazioni?metodo=cash").get_data(
        as_text=True
    )
    assert desk.get("/tesoreria/donazioni?stato=inventato").status_code == 422


def test_the_treasury_pages_read_in_english(app, ledger, fake):
    campaign_id = open_campaign(ledger)
    desk = treasurer(app, ledger)
    token = csrf_token(desk.get("/").get_data(as_text=True))
    desk.post("/language", data={"lang": "en", "csrf_token": token})
    html = desk.get(f"/campagne/{campaign_id}").get_data(as_text=True)
    assert "0.00 EUR of 5,000.00 EUR" in html
    assert "Donate by card" in html
    assert "Who has given" in html
    assert "Record a cash or bank transfer gift" in desk.get("/tesoreria/donazioni").get_data(
        as_text=True
    )


def test_card_donations_started_from_one_address_are_rate_limited(db_url, clock, ledger, fake):
    limited = create_app(
        app_config(db_url, clock, fake, RATELIMIT_ENABLED=True, RATELIMIT_DONATE="2 per hour")
    )
    client = limited.test_client()
    campaign_id = open_campaign(ledger)
    statuses = []
    for _ in range(3):  # three different forms: three would-be Checkout Sessions
        html = client.get(f"/campagne/{campaign_id}").get_data(as_text=True)
        statuses.append(
            client.post(
                f"/campagne/{campaign_id}", data={**form_values(html), "amount": "5,00"}
            ).status_code
        )
    assert statuses == [303, 303, 429]
    assert fake.sessions_created == 2
    limited.extensions["ledger"].engine.dispose()
