"""A citizen gives to a campaign through Stripe Checkout (the local fake), and the pages
of campaigns, donors and the treasury pass the accessibility, CSP and phone checks.

The app here is one of its own (module scope): the shared live server has no
Stripe settings. Stripe is tests/fakes/stripe_server.py; its Checkout page is
the donor's "Stripe", where the test pays. Stripe then tells the ledger with a
signed `checkout.session.completed` webhook, delivered to the live server's
`POST /webhooks/stripe`.
"""

from __future__ import annotations

import re
import shutil
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from ledger.campaigns.donations import record_offline_donation
from ledger.campaigns.models import Donation, Organisation
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.migrate import upgrade
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people.models import Person
from tests.browser.conftest import PHONE, LiveServer, User
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)
from tests.fakes.stripe_server import FakeStripe, delivery
from web import create_app

WEBHOOK_SECRET = "whsec_test"
TAX_CODE = "97123450153"


@dataclass
class Shop:
    """The live server with card payments, its Stripe, and whether it has the webhook."""

    server: LiveServer
    stripe: FakeStripe

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def books(self) -> Ledger:
        return self.server.books


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, cheap_password_hashing: None) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("donation-db")
    database_url = f"sqlite:///{folder / 'ledger.sqlite3'}"
    upgrade(database_url)
    with FakeStripe() as stripe:
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "TESTING": True,
                "SECRET_KEY": "donation-tests-" + uuid.uuid4().hex,
                "RATELIMIT_ENABLED": False,
                "MAIL_SENDER": "log",
                "STRIPE_SECRET_KEY": "sk_test_x",
                "STRIPE_API_BASE": stripe.url,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "ORGANISATION_NAME": "Associazione Quartiere Vivo ODV",
                "ORGANISATION_TAX_CODE": TAX_CODE,
                "ORGANISATION_QUALIFICATION": "ODV",
            }
        )
        server = make_server("127.0.0.1", 0, app, threaded=True)
        # Stripe sends the donor back to LEDGER_BASE_URL: here, this server.
        app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, name="donation-server", daemon=True)
        thread.start()
        books = Ledger.from_url(database_url)
        try:
            live = LiveServer(f"http://127.0.0.1:{server.server_port}", database_url, books)
            yield Shop(live, stripe)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            books.engine.dispose()
            app.extensions["ledger"].engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def open_page(browser: Browser, shop: Shop) -> Iterator[Callable[..., Page]]:
    """Pages in fresh contexts on the shop's server, closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options: object) -> Page:
        context = browser.new_context(base_url=shop.url, locale="it-IT", **options)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return watch_console(context.new_page())

    yield make
    for context in contexts:
        context.close()


def campaign(books: Ledger, title: str, *, goal: str = "100.00", publish: bool = True) -> int:
    def work(session: Session) -> int:
        now = books.clock.now()
        org = session.scalars(
            select(Organisation).where(Organisation.tax_code == TAX_CODE)
        ).first() or create_organisation(
            session,
            name="Associazione Quartiere Vivo ODV",
            tax_code=TAX_CODE,
            qualification="ODV",
            now=now,
        )
        made = create_campaign(
            session,
            NewCampaign(
                organisation_id=org.id,
                title=title,
                description_md="Un **orto** condiviso.\n\n- semi\n- attrezzi",
                goal_minor=Money.parse(goal, "EUR").minor,
                currency="EUR",
                deadline_at=now + timedelta(days=20),
                funding_model="keep_what_you_raise",
            ),
            clock=books.clock,
        )
        if publish:
            publish_campaign(session, made.id, clock=books.clock)
        return made.id

    return books.run(work)


def cash_gift(books: Ledger, campaign_id: int, amount: str, *, email: str | None = None) -> int:
    def work(session: Session) -> int:
        person_id = None
        if email is not None:
            person_id = session.scalars(select(Person.id).where(Person.email == email)).one()
        gift, _ = record_offline_donation(
            session,
            campaign_id,
            Money.parse(amount, "EUR"),
            method="cash",
            person_id=person_id,
            anonymous=False,
            reference=None,
            request_key=f"seed:{uuid.uuid4().hex}",
            donated_on=None,
            actor="user:0",
            clock=books.clock,
        )
        return gift.id

    return books.run(work)


def settle_paid_session(shop: Shop, session_id: str, fee_minor: int) -> None:
    """Stripe tells the ledger the session was paid: the signed webhook, posted to the
    live server's `/webhooks/stripe` as Stripe would (the charge's fee is the fake's)."""
    event = shop.stripe.checkout_completed_event(session_id)
    body, headers = delivery(event, WEBHOOK_SECRET)
    request = urllib.request.Request(
        f"{shop.url}/webhooks/stripe", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


# --------------------------------------------------------------------------- the donation
def test_a_citizen_donates_by_card_returns_to_the_thank_you_page_and_sees_the_progress_move(
    shop: Shop, open_page: Callable[..., Page]
) -> None:
    campaign_id = campaign(shop.books, f"Orto di via Roma {uuid.uuid4().hex[:6]}")
    page = open_page()
    page.goto("/campagne")
    page.get_by_role("link", name="Orto di via Roma").first.click()
    expect(page).to_have_url(at(f"/campagne/{campaign_id}"))
    expect(page.locator("#progress")).to_have_attribute("value", "0")
    expect(page.get_by_text("0,00 EUR di 100,00 EUR")).to_be_visible()

    page.get_by_label("Importo della donazione").fill("25,00")
    page.get_by_role("button", name="Dona con carta").click()

    # Stripe's page (the fake): the session asks for 2500 euro cents.
    expect(page).to_have_url(re.compile(rf"^{re.escape(shop.stripe.url)}/c/pay/cs_test_"))
    expect(page.locator("#amount")).to_have_text("2500 eur (minor units)")
    session_id = page.locator("#session").inner_text()
    shop.stripe.pay(session_id, fee_minor=55)
    page.locator("#success").click()

    # Back on the ledger: Stripe has not confirmed yet.
    expect(page).to_have_url(at(f"/campagne/{campaign_id}/grazie"))
    expect(page.get_by_role("status")).to_contain_text("in attesa di conferma")
    assert_no_csp_violations(page)

    settle_paid_session(shop, session_id, fee_minor=55)
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("ricevuta")
    expect(page.get_by_role("status")).to_contain_text("25,00 EUR")

    page.get_by_role("link", name="Torna alla campagna").click()
    expect(page.locator("#progress")).to_have_attribute("value", "2500")
    expect(page.get_by_text("25,00 EUR di 100,00 EUR")).to_be_visible()
    expect(page.get_by_text("25% dell'obiettivo")).to_be_visible()
    expect(page.get_by_text("1 donatore")).to_be_visible()
    assert shop.stripe.sessions_created >= 1
    assert_no_csp_violations(page)


# --------------------------------------------------------------------------- every new page
@dataclass(frozen=True)
class Visit:
    name: str
    who: str | None  # None: anonymous; "donor" or "treasurer"
    path: Callable[[dict[str, int]], str]


VISITS = [
    Visit("campaigns", None, lambda ids: "/campagne"),
    Visit("campaign", None, lambda ids: f"/campagne/{ids['live']}"),
    Visit("thank-you", None, lambda ids: f"/campagne/{ids['live']}/grazie?donazione=1"),
    Visit("my-donations", "donor", lambda ids: "/account/donazioni"),
    Visit("treasury-donations", "treasurer", lambda ids: "/tesoreria/donazioni"),
    Visit("treasury-donation", "treasurer", lambda ids: f"/tesoreria/donazioni/{ids['gift']}"),
    Visit("refund", "treasurer", lambda ids: f"/tesoreria/donazioni/{ids['gift']}/rimborso"),
    Visit("offline-donation", "treasurer", lambda ids: "/tesoreria/donazioni/nuova"),
    Visit("treasury-campaigns", "treasurer", lambda ids: "/tesoreria/campagne"),
    Visit("new-campaign", "treasurer", lambda ids: "/tesoreria/campagne/nuova"),
    Visit("publish", "treasurer", lambda ids: f"/tesoreria/campagne/{ids['draft']}/pubblica"),
    Visit("close", "treasurer", lambda ids: f"/tesoreria/campagne/{ids['live']}/chiudi"),
]


@dataclass
class Seeded:
    ids: dict[str, int]
    users: dict[str, User]


@pytest.fixture(scope="module")
def seeded(shop: Shop) -> Seeded:
    """Campaigns, a donor with a gift (a long name, to test the phone width), a flagged gift."""
    donor = shop.server.create_user(["donor"], name="Maria Antonietta Bevilacqua-Santangelo")
    treasurer = shop.server.create_user(["treasurer"], with_totp=True)
    live = campaign(shop.books, "Biblioteca di condominio con scaffali per tutti", goal="2500.00")
    draft = campaign(shop.books, "Bozza: merenda solidale", publish=False)
    gift = cash_gift(shop.books, live, "1234.56", email=donor.email)
    flagged = cash_gift(shop.books, live, "10.00")
    shop.books.run(
        lambda s: setattr(s.get(Donation, flagged), "flagged_reason", "importo diverso da Stripe")
    )
    return Seeded(
        {"live": live, "draft": draft, "gift": gift}, {"donor": donor, "treasurer": treasurer}
    )


@pytest.fixture(scope="module")
def states(browser: Browser, shop: Shop, seeded: Seeded) -> dict[str, object]:
    """The cookies of a signed-in donor and treasurer (TOTP confirmed)."""
    made: dict[str, object] = {}
    for who, user in seeded.users.items():
        context = browser.new_context(base_url=shop.url, locale="it-IT")
        sign_in(context.new_page(), user)
        made[who] = context.storage_state()
        context.close()
    return made


@pytest.mark.parametrize("language", ["it", "en"])
@pytest.mark.parametrize("visit", VISITS, ids=lambda v: v.name)
def test_the_campaign_pages_are_accessible_within_their_csp_and_fit_a_phone(
    open_page: Callable[..., Page],
    seeded: Seeded,
    states: dict[str, object],
    axe_source: str,
    visit: Visit,
    language: str,
) -> None:
    path = visit.path(seeded.ids)
    options: dict[str, object] = {}
    if visit.who is not None:
        options["storage_state"] = states[visit.who]
    for viewport in (None, PHONE):
        extra = dict(options)
        if viewport is not None:
            extra |= {"viewport": viewport, "is_mobile": True, "has_touch": True}
        page = open_page(**extra)
        page.goto(path)
        expect(page).to_have_url(at(path.split("?")[0]))
        if language != "it":
            switch_language(page, language)
        page.wait_for_load_state("load")
        assert_no_csp_violations(page)
        if viewport is None:
            assert_accessible(page, axe_source)
        else:
            assert_fits_width(page, PHONE["width"])
