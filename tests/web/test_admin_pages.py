"""The administration pages (web/admin/): users and roles, deactivation, foundations and
their officers, the settings in force, closing a month with the reconciliation warning,
verify and the exports; in Italian and English. Each act goes through its use case,
which writes its audit event; the pages need a confirmed TOTP code (the role matrix
checks who may reach them)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people import totp
from ledger.people.models import ApiToken, User
from ledger.people.service import find_user_by_email, issue_token
from ledger.reconcile import statements as importer
from ledger.reconcile.commands import create_bank_account, get_bank_account
from ledger.reconcile.parsed import ParsedLine, ParsedStatement
from tests.web.conftest import csrf_token, form_post, make_user, sign_in, totp_code

ADMIN = "admin@example.org"
IBAN = "FI7433010001222090"
CLI = Origin(channel="cli", source="test")
_KEY = re.compile(r'name="form_key"[^>]*value="([^"]+)"')


def _sign_in_with_code(client: FlaskClient, ledger: Ledger, email: str, roles: list[str]) -> int:
    secret = totp.new_secret()
    user_id = make_user(ledger, email, roles, totp_secret=secret)
    response = sign_in(client, email, code=totp_code(ledger, secret))
    assert response.status_code == 302, response.get_data(as_text=True)
    return user_id


@pytest.fixture
def admin(client: FlaskClient, ledger: Ledger) -> FlaskClient:
    """The test client signed in as an admin who confirmed a TOTP code."""
    _sign_in_with_code(client, ledger, ADMIN, ["admin"])
    return client


def choose_english(client: FlaskClient) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/language", data={"lang": "en", "csrf_token": token}).status_code == 302


def actions(ledger: Ledger) -> list[str]:
    return list(
        ledger.read(lambda s: s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all())
    )


def roles_of(ledger: Ledger, email: str) -> set[str]:
    def read(session: Session) -> set[str]:
        user = find_user_by_email(session, email)
        assert user is not None
        return set(user.roles)

    return ledger.read(read)


def form_with_key(client: FlaskClient, page: str, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    html = client.get(page).get_data(as_text=True)
    key = _KEY.search(html)
    assert key, "the form carries no key"
    return client.post(url, data={"csrf_token": csrf_token(html), "form_key": key.group(1), **data})


# ------------------------------------------------------------------ users and roles
@pytest.mark.parametrize(
    ("language", "heading", "role"),
    [("it", "Utenti e ruoli", "Tesoriere"), ("en", "Users and roles", "Treasurer")],
)
def test_the_users_page_lists_every_user_with_roles_and_status_in_both_languages(
    admin: FlaskClient, ledger: Ledger, language: str, heading: str, role: str
):
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    if language == "en":
        choose_english(admin)
    html = admin.get("/admin/utenti").get_data(as_text=True)
    assert f'<html lang="{language}">' in html
    assert "tesoriere@example.org" in html and ADMIN in html
    assert role in html
    # The heading is in the page's language once the catalogue has it; Italian always.
    if language == "it":
        assert heading in html


def test_an_admin_grants_and_takes_away_roles_and_each_change_is_audited(
    admin: FlaskClient, ledger: Ledger
):
    user_id = make_user(ledger, "anna@example.org", ["donor"])
    page = f"/admin/utenti/{user_id}"
    response = form_post(
        admin,
        f"{page}/ruoli",
        {"roles": ["donor", "treasurer"]},
        page=page,  # type: ignore[dict-item]
    )
    assert response.status_code == 302
    assert roles_of(ledger, "anna@example.org") == {"donor", "treasurer"}

    response = form_post(admin, f"{page}/ruoli", {"roles": "treasurer"}, page=page)
    assert response.status_code == 302
    assert roles_of(ledger, "anna@example.org") == {"treasurer"}
    assert actions(ledger).count("user.roles") == 2


def test_taking_away_every_role_is_refused_and_changes_nothing(admin: FlaskClient, ledger: Ledger):
    user_id = make_user(ledger, "anna@example.org", ["donor"])
    page = f"/admin/utenti/{user_id}"
    response = form_post(admin, f"{page}/ruoli", {}, page=page)
    assert response.status_code == 422
    assert "Ogni utente deve avere almeno un ruolo." in response.get_data(as_text=True)
    assert roles_of(ledger, "anna@example.org") == {"donor"}
    assert "user.roles" not in actions(ledger)


def test_a_deactivated_user_can_neither_sign_in_nor_use_a_token_and_reactivation_keeps_it_revoked(
    admin: FlaskClient, ledger: Ledger, clock: FixedClock, app
):
    user_id = make_user(ledger, "anna@example.org", ["donor"])

    def issue(session: Session) -> str:
        user = session.get(User, user_id)
        assert user is not None
        return issue_token(session, user, "script", now=clock.now())[0]

    token = ledger.run(issue)
    bearer = {"Authorization": f"Bearer {token}"}
    page = f"/admin/utenti/{user_id}"
    other = app.test_client()
    assert other.get("/api/v1/me", headers=bearer).status_code == 200

    unconfirmed = form_post(admin, f"{page}/disattiva", {}, page=page)
    assert unconfirmed.status_code == 422
    assert other.get("/api/v1/me", headers=bearer).status_code == 200

    assert form_post(admin, f"{page}/disattiva", {"confirm": "y"}, page=page).status_code == 302
    assert other.get("/api/v1/me", headers=bearer).status_code == 401
    assert sign_in(other, "anna@example.org").status_code == 422  # refused, the form again
    assert "disattivato" in admin.get(page).get_data(as_text=True)

    # The attack of the security review (2026-12-07): an account deactivated because
    # a token leaked got every live token back when it was reactivated.
    assert form_post(admin, f"{page}/riattiva", {}, page=page).status_code == 303
    assert other.get("/api/v1/me", headers=bearer).status_code == 401
    assert sign_in(other, "anna@example.org").status_code == 302
    revoked = ledger.read(
        lambda s: s.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == user_id)).all()
    )
    assert revoked and all(at is not None for at in revoked)
    assert [a for a in actions(ledger) if a.startswith("user.")][-2:] == [
        "user.deactivate",
        "user.reactivate",
    ]


def test_an_admin_cannot_deactivate_their_own_account(admin: FlaskClient, ledger: Ledger):
    own = ledger.read(lambda s: find_user_by_email(s, ADMIN).id)  # type: ignore[union-attr]
    page = f"/admin/utenti/{own}"
    assert "non puoi disattivarlo" in admin.get(page).get_data(as_text=True)
    response = form_post(admin, f"{page}/disattiva", {"confirm": "y"}, page="/admin/utenti")
    assert response.status_code == 422
    assert "Non puoi disattivare il tuo stesso account." in response.get_data(as_text=True)
    assert "user.deactivate" not in actions(ledger)


def test_an_admin_cannot_take_the_admin_role_away_from_themselves(
    admin: FlaskClient, ledger: Ledger
):
    own = ledger.read(lambda s: find_user_by_email(s, ADMIN).id)  # type: ignore[union-attr]
    page = f"/admin/utenti/{own}"
    response = form_post(admin, f"{page}/ruoli", {"roles": "treasurer"}, page=page)
    assert response.status_code == 422
    assert "Non puoi togliere a te stesso il ruolo di amministratore" in response.get_data(
        as_text=True
    )
    assert "admin" in roles_of(ledger, ADMIN)
    assert "user.roles" not in actions(ledger)


def test_an_unknown_user_is_a_404(admin: FlaskClient):
    assert admin.get("/admin/utenti/999").status_code == 404


# ------------------------------------------------------------------ foundations
def test_an_admin_registers_a_foundation_and_adds_an_officer_who_has_the_role(
    admin: FlaskClient, ledger: Ledger
):
    response = form_with_key(
        admin, "/admin/fondazioni", "/admin/fondazioni", {"name": "Fondazione Cariplo"}
    )
    assert response.status_code == 302
    html = admin.get("/admin/fondazioni").get_data(as_text=True)
    assert "Fondazione Cariplo" in html and "Nessun referente." in html
    foundation_id = int(re.search(r"/admin/fondazioni/(\d+)/referenti", html).group(1))  # type: ignore[union-attr]
    make_user(ledger, "donatore@example.org", ["donor"])
    make_user(ledger, "referente@example.org", ["foundation_officer"])
    url = f"/admin/fondazioni/{foundation_id}/referenti"
    field = f"f{foundation_id}-email"

    without_role = admin.post(
        url, data={"csrf_token": csrf_token(html), field: "donatore@example.org"}
    )
    assert without_role.status_code == 422
    assert "non ha il ruolo di referente" in without_role.get_data(as_text=True)

    added = admin.post(url, data={"csrf_token": csrf_token(html), field: "referente@example.org"})
    assert added.status_code == 302
    assert "referente@example.org" in admin.get("/admin/fondazioni").get_data(as_text=True)
    assert actions(ledger).count("foundation.create") == 1
    assert actions(ledger).count("foundation.add_officer") == 1


def test_a_second_foundation_with_the_same_name_is_refused(admin: FlaskClient, ledger: Ledger):
    data = {"name": "Fondazione Cariplo"}
    assert form_with_key(admin, "/admin/fondazioni", "/admin/fondazioni", data).status_code == 302
    again = form_with_key(admin, "/admin/fondazioni", "/admin/fondazioni", data)
    assert again.status_code == 422
    assert actions(ledger).count("foundation.create") == 1


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("language", ["it", "en"])
def test_the_settings_page_shows_the_configuration_read_only_and_never_a_secret(
    client: FlaskClient, ledger: Ledger, language: str
):
    app = client.application
    app.config["STRIPE_SECRET_KEY"] = "sk_test_segretissima"
    app.config["ORGANISATION_NAME"] = "APS Quartiere Solidale"
    _sign_in_with_code(client, ledger, ADMIN, ["admin"])
    if language == "en":
        choose_english(client)
    html = client.get("/admin/impostazioni").get_data(as_text=True)
    assert f'<html lang="{language}">' in html
    assert "APS Quartiere Solidale" in html
    assert "sk_test_segretissima" not in html
    assert "sqlite" in html or "postgresql" in html
    assert "<form" not in html.split('id="contenuto"')[1].split("</main>")[0]


# ------------------------------------------------------------------ closing a month
def _unexplained_may_line(ledger: Ledger) -> None:
    """A bank account with one line of May 2026 nobody explained."""
    ledger.create_account("assets:bank:main", "asset")
    line = ParsedLine(date(2026, 5, 20), 4_200, "Bonifico sconosciuto", "r1")
    statement = ParsedStatement(
        iban=IBAN,
        currency="EUR",
        opening_minor=0,
        closing_minor=4_200,
        opening_on=date(2026, 5, 20),
        closing_on=date(2026, 5, 31),
        statement_id="2026-05",
        lines=(line,),
    )

    def work(s: Session) -> None:
        create_bank_account(
            s, iban=IBAN, account_code="assets:bank:main", origin=CLI, clock=ledger.clock
        )
        importer.import_parsed(
            s,
            get_bank_account(s, IBAN, lock=True),
            [statement],
            sha256="3" * 64,
            fmt="test",
            preset=None,
            accept_unbalanced=False,
            reason=None,
            actor="test",
            now=ledger.clock.now(),
        )

    ledger.run(work)


@pytest.mark.parametrize("role", ["admin", "treasurer"])
def test_closing_a_month_with_an_unexplained_bank_line_warns_before_and_after_and_closes(
    client: FlaskClient, ledger: Ledger, role: str
):
    _unexplained_may_line(ledger)
    _sign_in_with_code(client, ledger, f"{role}@example.org", [role])
    before = client.get("/admin/periodi").get_data(as_text=True)
    assert "Nessun mese è ancora chiuso." in before
    assert 'value="2026-05"' in before  # last month, proposed
    assert "preview-warnings" in before and "42,00" in before

    response = form_with_key(
        client, "/admin/periodi", "/admin/periodi", {"period": "2026-05", "confirm": "y"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "closed-warnings" in html and "42,00" in html
    assert "I conti sono chiusi fino al 31/05/2026." in html
    assert actions(ledger).count("period.close") == 1


def test_a_month_not_yet_ended_cannot_be_closed_and_nothing_is_written(
    admin: FlaskClient, ledger: Ledger
):
    response = form_with_key(
        admin, "/admin/periodi", "/admin/periodi", {"period": "2026-06", "confirm": "y"}
    )
    assert response.status_code == 422
    assert "si chiude un mese solo quando è finito" in response.get_data(as_text=True)
    assert "period.close" not in actions(ledger)


def test_closing_needs_the_confirmation_ticked(admin: FlaskClient, ledger: Ledger):
    response = form_with_key(admin, "/admin/periodi", "/admin/periodi", {"period": "2026-05"})
    assert response.status_code == 422
    assert "period.close" not in actions(ledger)


def test_closing_a_closed_month_again_says_so_and_audits_nothing_more(
    admin: FlaskClient, ledger: Ledger
):
    data = {"period": "2026-05", "confirm": "y"}
    assert form_with_key(admin, "/admin/periodi", "/admin/periodi", data).status_code == 200
    again = form_with_key(admin, "/admin/periodi", "/admin/periodi", data)
    assert "era già chiuso" in again.get_data(as_text=True)
    assert actions(ledger).count("period.close") == 1


# ------------------------------------------------------------------ verify and exports
def _entry(ledger: Ledger) -> None:
    ledger.create_account("assets:cassa", "asset")
    ledger.create_account("income:quote", "income")
    ledger.post(
        EntrySpec(
            idempotency_key="quota-1",
            kind="manual",
            postings=[
                PostingSpec("assets:cassa", Money.parse("12.50", "EUR")),
                PostingSpec("income:quote", Money.parse("-12.50", "EUR")),
            ],
            effective_on=date(2026, 6, 1),
            narration="Quota associativa",
        )
    )


@pytest.mark.parametrize("language", ["it", "en"])
def test_verify_runs_on_the_whole_book_and_shows_its_result(
    admin: FlaskClient, ledger: Ledger, language: str
):
    _entry(ledger)
    if language == "en":
        choose_english(admin)
    page = admin.get("/admin/verifica").get_data(as_text=True)
    assert "verify-result" not in page
    html = admin.post("/admin/verifica", data={"csrf_token": csrf_token(page)}).get_data(
        as_text=True
    )
    assert f'<html lang="{language}">' in html
    assert 'id="verify-result"' in html and "notice-success" in html
    head = ledger.verify().head_hash
    assert head in html


def test_the_exports_download_the_whole_journal_as_beancount_and_csv(
    admin: FlaskClient, ledger: Ledger
):
    _entry(ledger)
    assert "registro.beancount" in admin.get("/admin/esportazioni").get_data(as_text=True)
    beancount = admin.get("/admin/esportazioni/registro.beancount")
    assert beancount.status_code == 200
    assert "attachment" in beancount.headers["Content-Disposition"]
    text = beancount.get_data(as_text=True)
    assert "Quota associativa" in text and "12.50 EUR" in text

    exported = admin.get("/admin/esportazioni/registrazioni.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert any("assets:cassa" in row for row in rows)
    assert any("income:quote" in row for row in rows)
