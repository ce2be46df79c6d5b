"""Every route against every role and an anonymous visitor.

The table EXPECTED states who may use each endpoint; the first test checks that
the routes declare exactly that (so a new route, or a changed audience, must be
written here too), and the matrix then requests every route with every method
as each persona and checks the outcome: allowed personas reach the view (never
401/403 or a sign-in redirect); refused ones get a redirect to sign-in (pages,
anonymous), 401 with `WWW-Authenticate: Bearer` (API, anonymous) or 403, and
the body of a refusal never carries the books' data or anyone's personal data.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask

from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.people import totp
from ledger.people.models import ROLES, TOKEN_SCOPES
from ledger.people.service import issue_token
from tests.web.conftest import make_user, sign_in, totp_code
from web import create_app
from web.access import Access, access_of, scope_of, signed_in

PUBLIC = "public"
SIGNED_IN = "signed_in"
MONEY = ("treasurer",)
BOOKS = ("admin", "treasurer")
PROJECT_READERS = ("admin", "foundation_officer", "partner", "project_staff", "treasurer")
PROJECT_ACTORS = ("admin", "project_staff", "treasurer")
# Linking a campaign to a project and paying it out: the treasury only.
PROJECT_TREASURY = ("admin", "treasurer")

# endpoint -> who may use it: PUBLIC, SIGNED_IN, or the roles (and whether TOTP is needed).
EXPECTED: dict[str, tuple[str | tuple[str, ...], bool]] = {
    "static": (PUBLIC, False),
    "home.index": (PUBLIC, False),
    "health.healthz": (PUBLIC, False),
    "health.readyz": (PUBLIC, False),
    "auth.register": (PUBLIC, False),
    "auth.login": (PUBLIC, False),
    "auth.two_factor_login": (PUBLIC, False),
    "auth.sign_in_link_request": (PUBLIC, False),
    "auth.sign_in_link": (PUBLIC, False),
    "auth.logout": (PUBLIC, False),
    "auth.language": (PUBLIC, False),
    "auth.reset_request": (PUBLIC, False),
    "auth.reset": (PUBLIC, False),
    "auth.account": (SIGNED_IN, False),
    "auth.password_change": (SIGNED_IN, False),
    "auth.two_factor_enrol": (SIGNED_IN, False),
    "auth.two_factor_verify": (SIGNED_IN, False),
    "auth.tokens": (SIGNED_IN, False),
    "auth.revoke_token": (SIGNED_IN, False),
    "auth.register_confirm": (PUBLIC, False),
    "auth.request_verification": (SIGNED_IN, False),
    "auth.verify_email": (SIGNED_IN, False),
    "auth.identity": (SIGNED_IN, False),
    "auth.staff_identity": (BOOKS, True),
    "books.trial_balance_page": (BOOKS, False),
    "books.new_entry": (MONEY, True),
    "admin.audit_log": (("admin",), True),
    # administration (web/admin/)
    "admin.users": (("admin",), True),
    "admin.user": (("admin",), True),
    "admin.user_roles": (("admin",), True),
    "admin.deactivate": (("admin",), True),
    "admin.reactivate": (("admin",), True),
    "admin.foundations": (("admin",), True),
    "admin.new_foundation": (("admin",), True),
    "admin.add_officer": (("admin",), True),
    "admin.settings": (("admin",), True),
    "admin.periods": (BOOKS, True),
    "admin.verify": (BOOKS, True),
    "admin.exports": (BOOKS, True),
    "admin.export_beancount_file": (BOOKS, True),
    "admin.export_csv_file": (BOOKS, True),
    "admin.job_runs": (("admin",), True),
    "admin.people": (("admin",), True),
    "admin.person_export": (("admin",), True),
    "admin.person_erase": (("admin",), True),
    "home.privacy": (PUBLIC, False),
    "auth.data_export": (SIGNED_IN, False),
    "api_v1.my_data_view": (SIGNED_IN, False),
    "api_v1.person_data_view": (("admin",), False),
    "api_v1.erase_person_view": (("admin",), False),
    "api_v1.openapi_document": (PUBLIC, False),
    "api_v1.me": (SIGNED_IN, False),
    "api_v1.my_tokens_view": (SIGNED_IN, False),
    "api_v1.revoke_my_token_view": (SIGNED_IN, False),
    "api_v1.list_accounts_view": (MONEY, False),
    "api_v1.create_account_view": (MONEY, False),
    "api_v1.get_account_view": (MONEY, False),
    "api_v1.list_entries_view": (MONEY, False),
    "api_v1.post_entry_view": (MONEY, False),
    "api_v1.get_entry_view": (MONEY, False),
    "api_v1.reverse_entry_view": (MONEY, False),
    "api_v1.trial_balance_view": (MONEY, False),
    "campaigns.index": (PUBLIC, False),
    "campaigns.campaign": (PUBLIC, False),
    "campaigns.thank_you": (PUBLIC, False),
    "campaigns.transfer": (PUBLIC, False),
    "my_donations.donations": (SIGNED_IN, False),
    "my_donations.donations_csv": (SIGNED_IN, False),
    "my_donations.donations_json": (SIGNED_IN, False),
    "my_donations.receipt_pdf": (SIGNED_IN, False),
    "treasury.donation_list": (MONEY, False),
    "treasury.donation_detail": (MONEY, False),
    "treasury.refund": (MONEY, True),
    "treasury.offline_donation": (MONEY, True),
    "treasury.campaign_list": (MONEY, False),
    "treasury.new_campaign": (MONEY, True),
    "treasury.publish_view": (MONEY, True),
    "treasury.close_view": (MONEY, True),
    "treasury.treasury_receipt": (MONEY, False),
    "treasury.reissue_receipt": (MONEY, True),
    "api_v1.create_campaign_view": (MONEY, False),
    "api_v1.get_campaign_view": (PUBLIC, False),
    "api_v1.publish_campaign_view": (MONEY, False),
    "api_v1.close_campaign_view": (MONEY, False),
    "api_v1.checkout_view": (SIGNED_IN, False),
    "api_v1.bank_transfer_view": (SIGNED_IN, False),
    "api_v1.offline_donation_view": (MONEY, False),
    "api_v1.refund_view": (MONEY, False),
    "api_v1.my_donations_view": (SIGNED_IN, False),
    "api_v1.list_grants_view": (("foundation_officer", "treasurer", "admin"), False),
    "api_v1.create_grant_view": (("foundation_officer",), False),
    "api_v1.get_grant_view": (("foundation_officer", "treasurer", "admin"), False),
    "api_v1.cancel_grant_view": (("foundation_officer",), False),
    "api_v1.grant_entries_view": (("foundation_officer", "treasurer", "admin"), False),
    "api_v1.grant_statement_view": (("foundation_officer", "treasurer", "admin"), False),
    "api_v1.campaign_matching_view": (PUBLIC, False),
    "webhooks.stripe": (PUBLIC, False),
    # calls for ideas (web/calls/)
    "calls.index": (PUBLIC, False),
    "calls.call": (PUBLIC, False),
    "my_applications.new": (("proponent",), False),
    "my_applications.edit": (("proponent",), False),
    "my_applications.mine": (("proponent",), False),
    "my_applications.detail": (("proponent",), False),
    "my_applications.submit": (("proponent",), False),
    "my_applications.withdraw": (("proponent",), False),
    "my_applications.report": (("proponent",), False),
    "committee.queue": (("reviewer",), False),
    "committee.review": (("reviewer",), False),
    "committee.conflict": (("reviewer",), False),
    "call_admin.calls_admin": (BOOKS, False),
    "call_admin.new_call": (("admin",), True),
    "call_admin.call_detail": (BOOKS, False),
    "call_admin.application_detail": (BOOKS, False),
    "call_admin.screen": (BOOKS, True),
    "call_admin.reject": (BOOKS, True),
    "call_admin.propose": (BOOKS, True),
    "call_admin.approve_award": (BOOKS, True),
    "call_admin.refuse_award": (BOOKS, True),
    "call_admin.approve_tranche": (BOOKS, True),
    "call_admin.pay_tranche": (BOOKS, True),
    "call_admin.close_award": (BOOKS, True),
    "call_admin.return_unspent": (BOOKS, True),
    "call_admin.disburse_loan": (BOOKS, True),
    "api_v1.list_calls_view": (SIGNED_IN, False),
    "api_v1.create_call_view": (("admin",), False),
    "api_v1.get_call_view": (SIGNED_IN, False),
    "api_v1.call_ranking_view": (BOOKS, False),
    "api_v1.call_applications_view": (BOOKS, False),
    "api_v1.create_application_view": (("proponent",), False),
    "api_v1.my_applications_view": (("proponent",), False),
    "api_v1.get_application_view": (SIGNED_IN, False),
    "api_v1.submit_application_view": (("proponent",), False),
    "api_v1.withdraw_application_view": (("proponent",), False),
    "api_v1.screen_application_view": (BOOKS, False),
    "api_v1.reject_application_view": (BOOKS, False),
    "api_v1.application_conflict_view": (("reviewer",), False),
    "api_v1.application_review_view": (("reviewer",), False),
    "api_v1.propose_award_view": (BOOKS, False),
    "api_v1.approve_award_view": (BOOKS, False),
    "api_v1.refuse_award_view": (BOOKS, False),
    "api_v1.close_award_view": (BOOKS, False),
    "api_v1.award_return_view": (BOOKS, False),
    "api_v1.award_disburse_view": (BOOKS, False),
    "api_v1.approve_tranche_view": (BOOKS, False),
    "api_v1.pay_tranche_view": (BOOKS, False),
    "api_v1.tranche_report_view": (("proponent",), False),
    # funds and microloans (web/funds/pages.py, web/funds/api.py)
    "funds.fund_list": (MONEY, False),
    "funds.new_fund": (MONEY, True),
    "funds.fund_detail": (MONEY, False),
    "funds.deposit": (MONEY, True),
    "funds.new_product": (MONEY, True),
    "funds.new_loan": (MONEY, True),
    "funds.fund_statement": (MONEY, False),
    "funds.loan_detail": (MONEY, False),
    "funds.disburse_view": (MONEY, True),
    "funds.cancel_view": (MONEY, True),
    "funds.repayment_view": (MONEY, True),
    "funds.write_off_view": (MONEY, True),
    "funds.recovery_view": (MONEY, True),
    "funds.overpayment_refund_view": (MONEY, True),
    "funds.loan_statement": (MONEY, False),
    "my_loans.my_loans": (SIGNED_IN, False),
    "my_loans.my_loan": (SIGNED_IN, False),
    "my_loans.my_loan_statement": (SIGNED_IN, False),
    "api_v1.list_funds_view": (MONEY, False),
    "api_v1.create_fund_view": (MONEY, False),
    "api_v1.get_fund_view": (MONEY, False),
    "api_v1.deposit_view": (MONEY, False),
    "api_v1.fund_statement_view": (MONEY, False),
    "api_v1.list_products_view": (MONEY, False),
    "api_v1.create_product_view": (MONEY, False),
    "api_v1.list_loans_view": (MONEY, False),
    "api_v1.create_loan_view": (MONEY, False),
    "api_v1.get_loan_view": (SIGNED_IN, False),
    "api_v1.loan_schedule_view": (SIGNED_IN, False),
    "api_v1.disburse_loan_view": (MONEY, False),
    "api_v1.cancel_loan_view": (MONEY, False),
    "api_v1.repayment_view": (MONEY, False),
    "api_v1.write_off_view": (MONEY, False),
    "api_v1.recovery_view": (MONEY, False),
    "api_v1.overpayment_refund_view": (MONEY, False),
    "api_v1.loan_statement_view": (SIGNED_IN, False),
    "api_v1.my_loans_view": (SIGNED_IN, False),
    # matching grants: the foundation officer's pages and the treasurer's (web/grants/pages.py)
    "grants.dashboard": (("admin", "foundation_officer"), False),
    "grants.commitment": (("admin", "foundation_officer"), False),
    "grants.statement": (("admin", "foundation_officer"), False),
    "grants.new_commitment": (("admin", "foundation_officer"), True),
    "grants.cancel": (("admin", "foundation_officer"), True),
    "grant_treasury.lines": (MONEY, False),
    "grant_treasury.disbursement": (MONEY, True),
    "grant_treasury.repayment": (MONEY, True),
    # projects (web/projects/pages.py): readers, and the project staff who act
    "projects.index": (PROJECT_READERS, False),
    "projects.project": (PROJECT_READERS, False),
    "projects.document_file": (PROJECT_READERS, False),
    "projects.budget": (PROJECT_READERS, False),
    "projects.budget_version": (PROJECT_READERS, False),
    "projects.propose_budget": (PROJECT_ACTORS, True),
    "projects.approve_budget": (PROJECT_ACTORS, True),
    "projects.new_expense": (PROJECT_ACTORS, True),
    "projects.money_in": (PROJECT_ACTORS, True),
    "projects.receive_grant": (PROJECT_ACTORS, True),
    "projects.receive_contribution": (PROJECT_ACTORS, True),
    "projects.in_kind": (PROJECT_ACTORS, True),
    "projects.link_campaign": (PROJECT_TREASURY, True),
    "projects.propose_payout": (PROJECT_ACTORS, True),
    "projects.pay_payout": (PROJECT_TREASURY, True),
    "projects.volunteer_hours": (PROJECT_ACTORS, True),
    "projects.enrol_volunteer": (PROJECT_ACTORS, True),
    "projects.end_volunteer": (PROJECT_ACTORS, True),
    "projects.rates": (PROJECT_ACTORS, True),
    "projects.add_rate": (PROJECT_TREASURY, True),
    "projects.report": (("project_staff", "foundation_officer", "treasurer", "admin"), False),
    # bank reconciliation (web/bank/pages.py, web/bank/api.py)
    "bank.accounts": (BOOKS, False),
    "bank.new_account": (BOOKS, True),
    "bank.import_view": (MONEY, True),
    "bank.import_result": (MONEY, False),
    "bank.lines": (MONEY, False),
    "bank.apply_references_view": (MONEY, True),
    "bank.line_view": (MONEY, False),
    "bank.ignore_view": (MONEY, True),
    "bank.book_view": (MONEY, True),
    "bank.match_view": (MONEY, True),
    "bank.gift_view": (MONEY, True),
    "bank.repayment_view": (MONEY, True),
    "bank.rules_view": (MONEY, False),
    "bank.new_rule_view": (MONEY, True),
    "bank.move_rule_view": (MONEY, True),
    "bank.disable_rule_view": (MONEY, True),
    "bank.preset_view": (MONEY, True),
    "bank.reconciliation_view": (MONEY, False),
    "bank.reconciliation_file": (MONEY, False),
    "bank.hold_view": (MONEY, True),
    "api_v1.list_bank_accounts_view": (BOOKS, False),
    "api_v1.create_bank_account_view": (BOOKS, False),
    "api_v1.import_statement_view": (MONEY, False),
    "api_v1.bank_lines_view": (MONEY, False),
    "api_v1.get_bank_line_view": (MONEY, False),
    "api_v1.reconciliation_view": (MONEY, False),
    "api_v1.hold_account_view": (MONEY, False),
    "api_v1.apply_references_view": (MONEY, False),
    "api_v1.ignore_bank_line_view": (MONEY, False),
    "api_v1.book_bank_line_view": (MONEY, False),
    "api_v1.match_bank_line_view": (MONEY, False),
    "api_v1.bank_line_suggestions_view": (MONEY, False),
    "api_v1.bank_line_gift_view": (MONEY, False),
    "api_v1.bank_line_repayment_view": (MONEY, False),
    "api_v1.bank_rules_view": (MONEY, False),
    "api_v1.create_bank_rule_view": (MONEY, False),
    "api_v1.move_bank_rule_view": (MONEY, False),
    "api_v1.disable_bank_rule_view": (MONEY, False),
    "api_v1.set_bank_preset_view": (MONEY, False),
    # projects (web/api/projects.py)
    "api_v1.list_projects_view": (PROJECT_READERS, False),
    "api_v1.get_project_view": (PROJECT_READERS, False),
    "api_v1.project_report_view": (PROJECT_READERS, False),
    "api_v1.project_documents_view": (PROJECT_READERS, False),
    "api_v1.document_file_view": (PROJECT_READERS, False),
    "api_v1.create_organisation_view": (PROJECT_ACTORS, False),
    "api_v1.create_project_view": (PROJECT_ACTORS, False),
    "api_v1.propose_budget_view": (PROJECT_ACTORS, False),
    "api_v1.approve_budget_view": (PROJECT_ACTORS, False),
    "api_v1.record_expense_view": (PROJECT_ACTORS, False),
    "api_v1.charge_document_view": (PROJECT_ACTORS, False),
    "api_v1.record_proof_view": (PROJECT_ACTORS, False),
    "api_v1.grant_received_view": (PROJECT_ACTORS, False),
    "api_v1.contribution_view": (PROJECT_ACTORS, False),
    "api_v1.link_campaign_view": (PROJECT_TREASURY, False),
    "api_v1.propose_payout_view": (PROJECT_ACTORS, False),
    "api_v1.pay_payout_view": (PROJECT_TREASURY, False),
    "api_v1.create_rate_view": (BOOKS, False),
    "api_v1.volunteer_hours_view": (PROJECT_ACTORS, False),
    "api_v1.volunteer_register_view": (PROJECT_ACTORS, False),
    "api_v1.enrol_volunteer_view": (PROJECT_ACTORS, False),
    "api_v1.end_volunteer_view": (PROJECT_ACTORS, False),
    "api_v1.in_kind_view": (PROJECT_ACTORS, False),
}

PERSONAS = ("anonymous", *ROLES)
MARKER_ACCOUNT = "assets:matrice:riservato"
MARKER_EMAILS = [f"{role}@matrice.example.org" for role in ROLES]
PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>")
URL_VALUES = {
    "code": MARKER_ACCOUNT,
    "sequence": "1",
    "filename": "app.css",
    "campaign_id": "1",
    "donation_id": "1",
    "receipt_id": "1",
    "call_id": "1",
    "application_id": "1",
    "award_id": "1",
    "tranche_id": "1",
    "fund_id": "1",
    "loan_id": "1",
    "fmt": "pdf",
    "commitment_id": "1",
    "foundation_id": "1",
    # A spare token of the first persona (issued after each persona's own): revoking it
    # leaves every persona's token working for the rest of the matrix.
    "token_id": str(len(ROLES) + 1),
    "person_id": "1",
    "bank_account_id": "1",
    "import_id": "1",
    "line_id": "1",
    "rule_id": "1",
    "user_id": "1",
    "project_id": "1",
    "document_id": "1",
    "version_id": "1",
    "enrolment_id": "1",
}


def declared(access: Access) -> tuple[str | tuple[str, ...], bool]:
    if access.anonymous:
        return PUBLIC, access.two_factor
    if access.any_signed_in:
        return SIGNED_IN, access.two_factor
    return tuple(sorted(access.roles)), access.two_factor


def test_every_route_declares_exactly_the_audience_in_the_table():
    app = create_app({"DATABASE_URL": "sqlite:///:memory:", "TESTING": True})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(EXPECTED), "a route was added or removed: update EXPECTED"
    for endpoint in sorted(endpoints):
        access = access_of(endpoint, app)
        assert access is not None, f"{endpoint} declares no audience"
        audience, two_factor = EXPECTED[endpoint]
        want = audience if isinstance(audience, str) else tuple(sorted(audience))
        assert declared(access) == (want, two_factor), endpoint


# Reads that need a money token (issued only after a TOTP code): another person's
# personal data, which the admin page shows only after two-factor.
MONEY_READS = {"api_v1.person_data_view"}


def test_every_api_route_declares_the_token_scope_of_its_method():
    # Reads need `read`, but MONEY_READS; whatever moves money or changes state (every
    # POST) needs `money`. A public route needs no token, so it declares no scope.
    app = create_app({"DATABASE_URL": "sqlite:///:memory:", "TESTING": True})
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        access = access_of(rule.endpoint, app)
        assert access is not None
        if access.anonymous:
            assert methods == {"GET"} and scope_of(rule.endpoint, app) is None, rule.endpoint
            continue
        writes = methods & {"POST", "PUT", "PATCH", "DELETE"}
        want = "money" if writes or rule.endpoint in MONEY_READS else "read"
        assert scope_of(rule.endpoint, app) == want, rule.endpoint
        checked += 1
    assert checked >= 60


def test_an_api_route_without_a_scope_refuses_every_token(client, ledger, clock):
    app: Flask = client.application

    @app.get("/api/v1/undeclared-scope")
    @signed_in
    def undeclared():  # type: ignore[no-untyped-def]
        return "data"

    user_id = make_user(ledger, "tesoriere@example.org", ["treasurer"])

    def issue(session):  # type: ignore[no-untyped-def]
        from ledger.people.models import User

        user = session.get(User, user_id)
        return issue_token(session, user, "tutto", now=clock.now(), scopes=TOKEN_SCOPES)[0]

    token = ledger.run(issue)
    response = client.get("/api/v1/undeclared-scope", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_data(as_text=True).strip() != "data"


def test_a_route_without_a_declaration_is_refused_to_everyone(client):
    app: Flask = client.application

    @app.get("/undeclared")
    def undeclared():  # type: ignore[no-untyped-def]
        return "data"

    response = client.get("/undeclared")
    assert response.status_code == 403
    assert response.get_data(as_text=True).strip() != "data"


def admits(endpoint: str, persona: str) -> bool:
    audience, _ = EXPECTED[endpoint]
    if audience == PUBLIC:
        return True
    if persona == "anonymous":
        return False
    return audience == SIGNED_IN or persona in audience


@pytest.fixture
def matrix(db_url, clock, ledger):  # type: ignore[no-untyped-def]
    """An app without CSRF (the matrix is about access, CSRF has its own tests), books
    with a marker account and entry, and per persona a session cookie and an API token."""
    ledger.create_account(MARKER_ACCOUNT, "asset")
    ledger.create_account("income:matrice", "income")
    ledger.post(
        EntrySpec(
            idempotency_key="matrice-1",
            kind="donation",
            postings=[
                PostingSpec(MARKER_ACCOUNT, Money.parse("77.77", "EUR")),
                PostingSpec("income:matrice", Money.parse("-77.77", "EUR")),
            ],
            effective_on=date(2026, 6, 1),
            narration="Voce riservata della matrice",
        )
    )
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MAIL_SENDER": "memory",
        }
    )
    cookies: dict[str, str | None] = {"anonymous": None}
    tokens: dict[str, str | None] = {"anonymous": None}
    users: dict[str, int] = {}
    for role in ROLES:
        secret = totp.new_secret()
        email = f"{role}@matrice.example.org"
        user_id = users[role] = make_user(ledger, email, [role], totp_secret=secret)
        client = app.test_client()
        assert sign_in(client, email, code=totp_code(ledger, secret)).status_code == 302
        cookie = client.get_cookie("ledger_session")
        assert cookie is not None
        cookies[role] = cookie.value

        def issue(session, user_id=user_id):  # type: ignore[no-untyped-def]
            from ledger.people.models import User

            user = session.get(User, user_id)
            return issue_token(session, user, "matrice", now=clock.now(), scopes=TOKEN_SCOPES)[0]

        tokens[role] = ledger.run(issue)

    def spare(session):  # type: ignore[no-untyped-def]
        from ledger.people.models import User

        owner = session.get(User, users[ROLES[0]])
        return issue_token(session, owner, "di scorta", now=clock.now())[1].id

    assert str(ledger.run(spare)) == URL_VALUES["token_id"]
    yield app, cookies, tokens
    app.extensions["ledger"].engine.dispose()


def request_as(app, cookies, tokens, persona, method, url):  # type: ignore[no-untyped-def]
    client = app.test_client()
    headers = {}
    if url.startswith("/api/"):
        if tokens[persona]:
            headers["Authorization"] = f"Bearer {tokens[persona]}"
    elif cookies[persona]:
        client.set_cookie("ledger_session", cookies[persona], domain="localhost")
    if method == "POST" and url.startswith("/api/"):
        return client.post(url, json={}, headers=headers)
    return client.open(url, method=method, headers=headers)


def test_every_role_against_every_protected_route(matrix):
    app, cookies, tokens = matrix
    checked = 0
    # Signing out ends every copy of the persona's session: that route goes last.
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.rule))
    for rule in rules:
        url = PLACEHOLDER.sub(lambda m: URL_VALUES[m.group(1)], rule.rule)
        is_api = url.startswith("/api/")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for persona in PERSONAS:
                response = request_as(app, cookies, tokens, persona, method, url)
                where = f"{persona} {method} {url} -> {response.status_code}"
                location = response.headers.get("Location", "")
                body = response.get_data(as_text=True)
                assert response.status_code < 500, where
                if admits(rule.endpoint, persona):
                    assert response.status_code not in (401, 403), where
                    assert "/login" not in location or rule.endpoint.startswith("auth."), where
                    assert "/account/2fa" not in location, where
                else:
                    if persona == "anonymous" and is_api:
                        assert response.status_code == 401, where
                        assert response.headers["WWW-Authenticate"].startswith("Bearer"), where
                    elif persona == "anonymous":
                        assert response.status_code == 302, where
                        assert location.startswith("/login?next="), where
                    else:
                        assert response.status_code == 403, where
                    assert MARKER_ACCOUNT not in body, where
                    assert "77,77" not in body and "77.77" not in body, where
                    for email in MARKER_EMAILS:
                        assert email not in body, where
                checked += 1
    assert checked >= len(EXPECTED) * len(PERSONAS)


@pytest.fixture
def narrow_tokens(matrix, ledger, clock):  # type: ignore[no-untyped-def]
    """Per persona, a token of each single scope."""
    app, _, _ = matrix
    narrow: dict[str, dict[str, str | None]] = {
        scope: {"anonymous": None} for scope in TOKEN_SCOPES
    }
    for role in ROLES:
        for scope in TOKEN_SCOPES:

            def issue(session, role=role, scope=scope):  # type: ignore[no-untyped-def]
                from ledger.people.models import User
                from ledger.people.service import find_user_by_email

                user = find_user_by_email(session, f"{role}@matrice.example.org")
                assert isinstance(user, User)
                return issue_token(session, user, scope, now=clock.now(), scopes=[scope])[0]

            narrow[scope][role] = ledger.run(issue)
    return app, narrow


def test_a_token_without_the_scope_of_a_route_gets_403_insufficient_scope_on_every_api_route(
    narrow_tokens,
):
    app, narrow = narrow_tokens
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or EXPECTED[rule.endpoint][0] == PUBLIC:
            continue
        url = PLACEHOLDER.sub(lambda m: URL_VALUES[m.group(1)], rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            lacking = "read" if scope_of(rule.endpoint, app) == "money" else "money"
            for persona in ROLES:
                if not admits(rule.endpoint, persona):
                    continue
                response = request_as(app, {}, narrow[lacking], persona, method, url)
                where = f"{persona} with a {lacking} token: {method} {url}"
                assert response.status_code == 403, where
                error = response.get_json()["error"]
                assert error["code"] == "insufficient_scope", where
                assert error["details"] == {
                    "required": scope_of(rule.endpoint, app),
                    "granted": [lacking],
                }
                body = response.get_data(as_text=True)
                assert MARKER_ACCOUNT not in body and "77.77" not in body, where
                checked += 1
    assert checked >= 60


def test_a_treasurer_without_a_confirmed_code_is_sent_to_the_second_factor(client, ledger):
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(client, "tesoriere@example.org")
    for path in ["/contabilita/registrazioni/nuova"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/2fa")


def test_an_admin_must_confirm_a_code_before_the_audit_log(client, ledger):
    make_user(ledger, "admin@example.org", ["admin"])
    sign_in(client, "admin@example.org")
    response = client.get("/admin/audit")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/2fa")


def test_a_users_own_data_pages_show_only_their_own_data(app, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    make_user(ledger, "bruno@example.org", ["donor"])
    anna = app.test_client()
    sign_in(anna, "anna@example.org")
    page = anna.get("/account").get_data(as_text=True)
    assert "anna@example.org" in page
    assert "bruno@example.org" not in page
