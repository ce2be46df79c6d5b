"""Privacy from the pages and the API: the notice, one's own data export, an admin's export
and erasure (with TOTP), and the erased account's end."""

from __future__ import annotations

import json
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import text

from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.people import commands as people_commands
from ledger.people import totp
from tests.web.conftest import make_user, sign_in, totp_code

ANNA = "anna.rossi@example.org"


def admin(ledger: Ledger) -> tuple[int, str]:
    secret = totp.new_secret()
    return make_user(ledger, "admin@example.org", ["admin"], totp_secret=secret), secret


def test_the_privacy_notice_is_public_and_linked_from_every_page(client: FlaskClient):
    page = client.get("/privacy")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Informativa sulla privacy" in html
    assert "dopo 90 giorni" in html
    assert 'href="/privacy"' in client.get("/").get_data(as_text=True)


def test_a_user_downloads_their_own_data_from_the_account_page(client, ledger):
    make_user(ledger, ANNA, ["donor"])
    sign_in(client, ANNA)
    account = client.get("/account").get_data(as_text=True)
    assert 'href="/account/esporta-dati"' in account

    response = client.get("/account/esporta-dati")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["person"]["email"] == ANNA and data["user"]["roles"] == ["donor"]
    assert any(e["action"] == "session.login" for e in data["audit_events"])


def test_an_admin_finds_exports_and_erases_a_person_who_then_cannot_sign_in(client, ledger, clock):
    make_user(ledger, ANNA, ["donor"])
    _, secret = admin(ledger)
    sign_in(client, "admin@example.org", code=totp_code(ledger, secret))

    found = client.get(f"/admin/persone?email={ANNA}").get_data(as_text=True)
    assert "Anna.Rossi" in found
    person_id = ledger.read(
        lambda s: s.execute(text("SELECT id FROM persons WHERE email = :e"), {"e": ANNA}).scalar()
    )
    export = client.get(f"/admin/persone/{person_id}/dati")
    assert export.status_code == 200
    assert json.loads(export.get_data(as_text=True))["person"]["email"] == ANNA

    page = client.get(f"/admin/persone/{person_id}/cancella").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    unconfirmed = client.post(
        f"/admin/persone/{person_id}/cancella",
        data={"csrf_token": token, "code": totp_code(ledger, secret, 1)},
    )
    assert unconfirmed.status_code == 422
    wrong = client.post(
        f"/admin/persone/{person_id}/cancella",
        data={"csrf_token": token, "confirm": "y", "code": "000000"},
    )
    assert wrong.status_code == 422
    clock.instant += timedelta(seconds=30)
    done = client.post(
        f"/admin/persone/{person_id}/cancella",
        data={"csrf_token": token, "confirm": "y", "code": totp_code(ledger, secret)},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    html = done.get_data(as_text=True)
    assert "sono stati cancellati" in html
    assert "Niente: nessun documento da conservare" in html

    other = client.application.test_client()
    sign_in(other, ANNA)
    after = other.get("/account")
    assert after.status_code == 302 and "/login" in after.headers["Location"]
    assert (
        client.get(f"/admin/persone?email={ANNA}").get_data(as_text=True).count("Nessuna persona")
        == 1
    )


def test_the_api_exports_ones_own_data_and_lets_an_admin_erase_with_a_totp_code(
    client, ledger, clock
):
    make_user(ledger, ANNA, ["donor"])
    anna_token = ledger.run(
        lambda s: (
            people_commands.issue_token(
                s, ANNA, "script", origin=Origin.command_line(), clock=clock
            ).value.token
        )
    )
    mine = client.get("/api/v1/me/data", headers={"Authorization": f"Bearer {anna_token}"})
    assert mine.status_code == 200 and mine.get_json()["person"]["email"] == ANNA
    person_id = mine.get_json()["person"]["id"]
    assert (
        client.get(
            f"/api/v1/people/{person_id}/data", headers={"Authorization": f"Bearer {anna_token}"}
        ).status_code
        == 403
    )

    admin_id, secret = admin(ledger)
    admin_token = ledger.run(
        lambda s: (
            people_commands.issue_own_token(
                s,
                admin_id,
                "privacy",
                scopes=["read", "money"],
                days=1,
                code=totp_code(ledger, secret),
                box=ledger.require_secret_box(),
                origin=Origin(channel="web", user_id=admin_id),
                clock=clock,
            ).value.token
        )
    )
    headers = {"Authorization": f"Bearer {admin_token}"}
    clock.instant += timedelta(seconds=30)
    wrong = client.post(
        f"/api/v1/people/{person_id}/erase", json={"code": "000000"}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "invalid_totp_code"
    erased = client.post(
        f"/api/v1/people/{person_id}/erase",
        json={"code": totp_code(ledger, secret)},
        headers=headers,
    )
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["kept"] == [] and "email" in erased.get_json()["replaced"]
    clock.instant += timedelta(seconds=30)
    again = client.post(
        f"/api/v1/people/{person_id}/erase",
        json={"code": totp_code(ledger, secret)},
        headers=headers,
    )
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_erased"
    # Anna's token was revoked by the erasure.
    assert (
        client.get("/api/v1/me/data", headers={"Authorization": f"Bearer {anna_token}"}).status_code
        == 401
    )


def test_an_admins_read_token_without_two_factor_cannot_export_a_persons_data(
    client, ledger, clock
):
    """The attack of the security review (2026-12-07): an admin not enrolled in
    two-factor issued a read token (no code needed) and read every person's codice
    fiscale and address through /api/v1/people/<id>/data, which the admin page
    refuses without two-factor. The export now needs a money token, issued only
    after a TOTP code."""
    make_user(ledger, ANNA, ["donor"])
    person_id = ledger.read(
        lambda s: s.execute(
            text("SELECT id FROM persons WHERE email = :e"), {"e": ANNA}
        ).scalar_one()
    )
    no_totp = make_user(ledger, "admin-senza-otp@example.org", ["admin"])
    read_token = ledger.run(
        lambda s: (
            people_commands.issue_own_token(
                s,
                no_totp,
                "lettura",
                scopes=["read"],
                days=1,
                code=None,
                box=ledger.require_secret_box(),
                origin=Origin(channel="web", user_id=no_totp),
                clock=clock,
            ).value.token
        )
    )
    refused = client.get(
        f"/api/v1/people/{person_id}/data", headers={"Authorization": f"Bearer {read_token}"}
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    assert ANNA not in refused.get_data(as_text=True)


def test_erasure_codes_are_limited_per_admin_on_the_api(client, ledger, clock):
    """The attack of the security review (2026-12-07): with a stolen money token but
    not the authenticator, the erasure's TOTP code could be guessed without limit.
    It now counts against the admin's TOTP allowance (5 per minute by default):
    the sixth guess is refused with 429 and nothing is erased."""
    make_user(ledger, ANNA, ["donor"])
    person_id = ledger.read(
        lambda s: s.execute(
            text("SELECT id FROM persons WHERE email = :e"), {"e": ANNA}
        ).scalar_one()
    )
    admin_id, secret = admin(ledger)
    token = ledger.run(
        lambda s: (
            people_commands.issue_own_token(
                s,
                admin_id,
                "rubato",
                scopes=["money"],
                days=1,
                code=totp_code(ledger, secret),
                box=ledger.require_secret_box(),
                origin=Origin(channel="web", user_id=admin_id),
                clock=clock,
            ).value.token
        )
    )
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [
        client.post(
            f"/api/v1/people/{person_id}/erase", json={"code": f"{n:06d}"}, headers=headers
        ).status_code
        for n in range(6)
    ]
    assert statuses == [422] * 5 + [429]
    email = ledger.read(
        lambda s: s.execute(
            text("SELECT email FROM persons WHERE id = :i"), {"i": person_id}
        ).scalar_one()
    )
    assert email == ANNA
