"""Fund and loan pages: a treasurer runs a revolving fund through the forms; a borrower
sees their own loan only; the public sees nothing of it.

Every money form is submitted as a browser would (CSRF token from the page), and
the outcome is read back from the engine's balances, not from the page alone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.people import totp
from tests.web.conftest import csrf_token, make_user, sign_in, totp_code

FORM_KEY = re.compile(r'name="form_key"[^>]*value="([^"]*)"')


def treasurer(client: FlaskClient, ledger: Ledger) -> FlaskClient:
    secret = totp.new_secret()
    make_user(ledger, "tesoriera@example.org", ["treasurer"], totp_secret=secret)
    assert (
        sign_in(client, "tesoriera@example.org", code=totp_code(ledger, secret)).status_code == 302
    )
    return client


def submit(client: FlaskClient, page: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """GET `page`, then POST `data` to `action` with the page's CSRF token and form key."""
    html = client.get(page).get_data(as_text=True)
    fields = {"csrf_token": csrf_token(html), **data}
    key = FORM_KEY.search(html)
    if key and key.group(1):
        fields.setdefault("form_key", key.group(1))
    return client.post(action, data=fields)


def seeded(ledger: Ledger) -> tuple[int, int]:
    """A revolving fund with 10,000.00 in and a 6% product (through the services)."""

    def work(session: Session) -> tuple[int, int]:
        fund = funds.create_fund(
            session, name="Fondo rotativo di quartiere", kind="revolving", clock=ledger.clock
        )
        funds.deposit(
            session, fund.id, 1_000_000, source="foundation_grant", key="seed", clock=ledger.clock
        )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microcredito 6%",
            min_amount_minor=50_000,
            max_amount_minor=1_000_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=24,
            clock=ledger.clock,
        )
        return fund.id, product.id

    return ledger.run(work)


def test_a_treasurer_creates_a_fund_and_books_money_in_through_the_forms(
    client: FlaskClient, ledger: Ledger
) -> None:
    treasurer(client, ledger)
    response = submit(
        client,
        "/tesoreria/fondi/nuovo",
        "/tesoreria/fondi/nuovo",
        {"name": "Fondo #genera_idee", "kind": "microgrant"},
    )
    assert response.status_code == 302
    fund_url = response.headers["Location"]
    fund_id = int(fund_url.rsplit("/", 1)[1])
    deposit = f"/tesoreria/fondi/{fund_id}/entrata"
    response = submit(
        client,
        deposit,
        deposit,
        {"amount": "9.500,00", "source": "foundation_grant", "reference": "bando 2026"},
    )
    assert response.status_code == 302
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 950_000
    page = client.get(fund_url).get_data(as_text=True)
    assert "9.500,00 EUR" in page
    # Bad input: refused in Italian, nothing booked.
    response = submit(client, deposit, deposit, {"amount": "12,345", "source": "donation"})
    assert response.status_code == 422
    assert "Importo non valido" in response.get_data(as_text=True)
    response = submit(
        client,
        deposit,
        deposit,
        {"amount": "10,00", "source": "donation", "effective_on": "2027-01-01"},
    )
    assert response.status_code == 422
    assert "nel futuro" in response.get_data(as_text=True)
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 950_000
    response = submit(
        client,
        deposit,
        deposit,
        {"amount": "10,00", "source": "donation", "reference": "da mario.rossi@example.org"},
    )
    assert response.status_code == 422
    assert "dati personali" in response.get_data(as_text=True)
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 950_000


def test_a_double_submitted_deposit_books_once(client: FlaskClient, ledger: Ledger) -> None:
    treasurer(client, ledger)
    fund_id, _product = seeded(ledger)
    url = f"/tesoreria/fondi/{fund_id}/entrata"
    html = client.get(url).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(html),
        "form_key": "chiave-del-modulo",
        "amount": "100,00",
        "source": "donation",
    }
    assert client.post(url, data=data).status_code == 302
    assert client.post(url, data=data).status_code == 302
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 1_010_000


def test_a_loan_is_granted_disbursed_repaid_late_and_the_fund_shows_par30(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    treasurer(client, ledger)
    make_user(ledger, "beneficiaria@example.org", ["proponent"])
    fund_id, product_id = seeded(ledger)
    new_loan = f"/tesoreria/fondi/{fund_id}/prestiti/nuovo"
    response = submit(
        client,
        new_loan,
        new_loan,
        {
            "product": str(product_id),
            "borrower_email": "Beneficiaria@Example.org",
            "principal": "5000",
            "term": "12",
            "first_due_on": "2026-07-15",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    loan_url = response.headers["Location"]
    loan_id = int(loan_url.rsplit("/", 1)[1])
    page = client.get(loan_url).get_data(as_text=True)
    assert "430,33 EUR" in page and "430,35 EUR" in page and "163,98 EUR" in page
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 1_000_000  # not yet paid out

    response = submit(
        client,
        loan_url,
        f"/tesoreria/prestiti/{loan_id}/erogazione",
        {"disbursed_on": "2026-06-15"},
    )
    assert response.status_code == 302
    a = FundAccounts(fund_id)
    assert (ledger.balance(a.cash).posted, ledger.balance(a.loans_receivable).posted) == (
        500_000,
        500_000,
    )

    clock.instant = datetime(2026, 9, 1, 10, tzinfo=UTC)
    response = submit(
        client,
        loan_url,
        f"/tesoreria/prestiti/{loan_id}/rimborso",
        {"amount": "430,33", "received_on": "2026-07-20"},
    )
    assert response.status_code == 302
    assert ledger.balance(a.interest).posted == 2_500
    assert ledger.balance(a.loans_receivable).posted == 500_000 - 40_533
    # The August instalment is unpaid on 1 September: 17 days late, not yet PAR30.
    fund_page = client.get(f"/tesoreria/fondi/{fund_id}").get_data(as_text=True)
    assert "0,00%" in fund_page
    clock.instant = datetime(2026, 9, 20, 10, tzinfo=UTC)
    fund_page = client.get(f"/tesoreria/fondi/{fund_id}").get_data(as_text=True)
    assert "100,00%" in fund_page
    # A payment dated before the last one is refused, with nothing written.
    response = submit(
        client,
        loan_url,
        f"/tesoreria/prestiti/{loan_id}/rimborso",
        {"amount": "10,00", "received_on": "2026-07-01"},
    )
    assert response.status_code == 422
    assert "precedente" in response.get_data(as_text=True)
    assert ledger.balance(a.cash).posted == 500_000 + 43_033

    statement = client.get(
        f"/tesoreria/fondi/{fund_id}/rendiconto.csv?dal=2026-01-01&al=2026-09-20"
    )
    assert statement.status_code == 200
    text = statement.get_data(as_text=True)
    assert "Saldo finale del conto del fondo,543033" not in text  # decimal strings, not minor units
    assert "Saldo finale del conto del fondo,5430.33,EUR" in text
    pdf = client.get(f"/tesoreria/fondi/{fund_id}/rendiconto.pdf?dal=2026-01-01&al=2026-09-20")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    bad = client.get(f"/tesoreria/fondi/{fund_id}/rendiconto.csv?dal=2026-09-01&al=2026-01-01")
    assert bad.status_code == 422
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 9, 20)))
    assert position.par30 == Decimal(1)


def test_a_borrower_sees_their_own_loan_and_nobody_elses(
    client: FlaskClient, ledger: Ledger
) -> None:
    fund_id, product_id = seeded(ledger)
    mine = make_user(ledger, "mia@example.org", ["proponent"])
    other = make_user(ledger, "altra@example.org", ["proponent"])

    def open_for(user_id: int, key: str) -> int:
        def work(session: Session) -> int:
            from ledger.people.models import User

            user = session.get(User, user_id)
            assert user is not None
            loan = lending.open_loan(
                session,
                fund_id=fund_id,
                product_id=product_id,
                borrower_person_id=user.person_id,
                principal_minor=100_000,
                term_months=6,
                first_due_on=date(2026, 7, 15),
                key=key,
                clock=ledger.clock,
            )
            lending.disburse_loan(session, loan.id, clock=ledger.clock)
            return loan.id

        return ledger.run(work)

    my_loan, their_loan = open_for(mine, "a"), open_for(other, "b")
    assert sign_in(client, "mia@example.org").status_code == 302
    listing = client.get("/account/prestiti").get_data(as_text=True)
    assert f"Prestito n. {my_loan}" in listing and f"Prestito n. {their_loan}" not in listing
    assert client.get(f"/account/prestiti/{my_loan}").status_code == 200
    assert client.get(f"/account/prestiti/{their_loan}").status_code == 404
    assert client.get(f"/account/prestiti/{their_loan}/estratto.pdf").status_code == 404
    own_pdf = client.get(f"/account/prestiti/{my_loan}/estratto.pdf")
    assert own_pdf.status_code == 200 and own_pdf.data.startswith(b"%PDF")
    # Not a treasurer: the fund pages are closed.
    assert client.get(f"/tesoreria/fondi/{fund_id}").status_code == 403


@pytest.mark.parametrize("url", ["/tesoreria/fondi", "/tesoreria/fondi/1", "/account/prestiti"])
def test_the_public_sees_no_fund_or_loan_page(
    client: FlaskClient, ledger: Ledger, url: str
) -> None:
    seeded(ledger)
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_write_off_and_a_recovery_through_the_loan_page(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    treasurer(client, ledger)
    fund_id, product_id = seeded(ledger)
    person = make_user(ledger, "b@example.org", ["proponent"])

    def work(session: Session) -> int:
        from ledger.people.models import User

        user = session.get(User, person)
        assert user is not None
        loan = lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=user.person_id,
            principal_minor=200_000,
            term_months=6,
            first_due_on=date(2026, 7, 15),
            key="w",
            clock=ledger.clock,
        )
        lending.disburse_loan(session, loan.id, clock=ledger.clock)
        return loan.id

    loan_id = ledger.run(work)
    clock.instant = datetime(2026, 12, 1, 10, tzinfo=UTC)
    loan_url = f"/tesoreria/prestiti/{loan_id}"
    assert submit(client, loan_url, f"{loan_url}/stralcio", {}).status_code == 302
    a = FundAccounts(fund_id)
    assert ledger.balance(a.loans_receivable).posted == 0
    assert ledger.balance(a.loan_losses).posted == 200_000
    response = submit(
        client, loan_url, f"{loan_url}/recupero", {"amount": "500,00", "received_on": "2026-12-01"}
    )
    assert response.status_code == 302
    assert ledger.balance(a.recoveries).posted == 50_000
    assert ledger.balance(a.cash).posted == 1_000_000 - 200_000 + 50_000
    assert ledger.read(lambda s: lending.get_loan(s, loan_id).status) == "written_off"


def test_the_fund_and_loan_pages_read_in_english(client: FlaskClient, ledger: Ledger) -> None:
    treasurer(client, ledger)
    fund_id, _product_id = seeded(ledger)
    html = client.get(f"/tesoreria/fondi/{fund_id}").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(html)})
    page = client.get(f"/tesoreria/fondi/{fund_id}").get_data(as_text=True)
    assert "Loans outstanding" in page and "Prestiti in essere" not in page
    assert "10,000.00 EUR" in page  # the English number format
    form = client.get(f"/tesoreria/fondi/{fund_id}/prestiti/nuovo").get_data(as_text=True)
    assert "Grant the loan" in form and "First instalment due on" in form


def test_a_loan_never_disbursed_is_cancelled_from_its_page(
    client: FlaskClient, ledger: Ledger
) -> None:
    treasurer(client, ledger)
    fund_id, product_id = seeded(ledger)
    person = make_user(ledger, "f@example.org", ["proponent"])

    def work(session: Session) -> int:
        from ledger.people.models import User

        user = session.get(User, person)
        assert user is not None
        hold = funds.reserve(session, fund_id, 200_000, key="a", clock=ledger.clock, purpose="loan")
        return lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=user.person_id,
            principal_minor=200_000,
            term_months=6,
            first_due_on=date(2026, 7, 15),
            hold_id=hold,
            key="c",
            clock=ledger.clock,
        ).id

    loan_id = ledger.run(work)
    a = FundAccounts(fund_id)
    assert ledger.balance(a.cash).available == 800_000
    loan_url = f"/tesoreria/prestiti/{loan_id}"
    assert submit(client, loan_url, f"{loan_url}/annullamento", {}).status_code == 302
    assert ledger.balance(a.cash).available == 1_000_000
    assert ledger.read(lambda s: lending.get_loan(s, loan_id).status) == "cancelled"
    assert "Annullato" in client.get(loan_url).get_data(as_text=True)


def test_a_loan_for_an_unknown_e_mail_is_refused_on_its_field_in_both_languages(
    client: FlaskClient, ledger: Ledger
) -> None:
    treasurer(client, ledger)
    fund_id, product_id = seeded(ledger)
    new_loan = f"/tesoreria/fondi/{fund_id}/prestiti/nuovo"
    data = {
        "product": str(product_id),
        "borrower_email": "nessuno@example.org",
        "principal": "1000",
        "term": "6",
        "first_due_on": "2026-07-15",
    }
    response = submit(client, new_loan, new_loan, data)
    assert response.status_code == 422
    assert "Nessuna persona registrata con questa e-mail." in response.get_data(as_text=True)
    html = client.get(new_loan).get_data(as_text=True)
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(html)})
    response = submit(client, new_loan, new_loan, data)
    assert response.status_code == 422
    assert "No registered person has this e-mail." in response.get_data(as_text=True)
    assert ledger.read(lambda s: lending.list_loans(s, fund_id=fund_id)) == []


def test_a_repayment_form_sent_twice_from_the_loan_page_books_once(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    treasurer(client, ledger)
    make_user(ledger, "beneficiaria@example.org", ["proponent"])
    fund_id, product_id = seeded(ledger)
    new_loan = f"/tesoreria/fondi/{fund_id}/prestiti/nuovo"
    response = submit(
        client,
        new_loan,
        new_loan,
        {
            "product": str(product_id),
            "borrower_email": "beneficiaria@example.org",
            "principal": "5000",
            "term": "12",
            "first_due_on": "2026-07-15",
        },
    )
    loan_url = response.headers["Location"]
    loan_id = int(loan_url.rsplit("/", 1)[1])
    submit(client, loan_url, f"/tesoreria/prestiti/{loan_id}/erogazione", {})
    clock.instant = datetime(2026, 7, 20, 10, tzinfo=UTC)
    html = client.get(loan_url).get_data(as_text=True)
    form = re.search(r'action="/tesoreria/prestiti/\d+/rimborso".*?</form>', html, re.S)
    assert form is not None
    key = FORM_KEY.search(form.group(0))
    assert key is not None and key.group(1)  # the shown form carries its request key
    data = {
        "csrf_token": csrf_token(html),
        "form_key": key.group(1),
        "amount": "430,33",
        "received_on": "2026-07-20",
    }
    for _ in range(2):
        assert client.post(f"/tesoreria/prestiti/{loan_id}/rimborso", data=data).status_code == 302
    a = FundAccounts(fund_id)
    assert ledger.balance(a.cash).posted == 500_000 + 43_033
    keys = {m.group(1) for m in FORM_KEY.finditer(client.get(loan_url).get_data(as_text=True))}
    assert key.group(1) not in keys  # a new showing, a new key
