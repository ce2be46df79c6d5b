"""Everything the product holds about one person, as JSON-ready data.

The person and their user (never a password hash, TOTP secret or token hash),
their API tokens' metadata, sign-in links and registrations, their gifts with
their refunds and receipts, their applications to calls with their history,
their loans, the committees and foundations they belong to, their periods in
the register of volunteers and their volunteer hours, and the audit events they
made or that are about them (with the address and user agent each one kept).
With `linked` false (an account whose address is not confirmed) the records
linked to the person only through the address (gifts, receipts, loans) are left
out: they may be someone else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.campaigns.models import Campaign, Donation, Receipt, Refund
from ledger.campaigns.receipt_data import format_receipt_number
from ledger.funds.call_models import Application, ApplicationEvent, CallReviewer
from ledger.funds.models import Loan
from ledger.grants.models import FoundationOfficer
from ledger.people.models import ApiToken, Registration, SignInLink
from ledger.people.service import get_person, user_of_person
from ledger.projects.models import FigurativeItem, VolunteerEnrolment

FORMAT = "community-ledger/person-export/1"


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: Any, columns: Iterable[str]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in columns}


def _donations(session: Session, person_id: int) -> list[dict[str, Any]]:
    gifts = []
    for donation in session.scalars(
        select(Donation).where(Donation.person_id == person_id).order_by(Donation.id)
    ):
        campaign = session.get(Campaign, donation.campaign_id)
        gift = _row(
            donation,
            (
                "id",
                "campaign_id",
                "amount_minor",
                "currency",
                "method",
                "status",
                "anonymous",
                "fee_minor",
                "refunded_minor",
                "withdrawn_minor",
                "reference",
                "transfer_reference",
                "donor_name",
                "donor_codice_fiscale",
                "created_at",
                "settled_at",
                "donated_on",
            ),
        )
        gift["campaign_title"] = campaign.title if campaign is not None else None
        gift["refunds"] = [
            _row(
                r,
                (
                    "id",
                    "amount_minor",
                    "currency",
                    "reason",
                    "status",
                    "created_at",
                    "confirmed_at",
                ),
            )
            for r in session.scalars(
                select(Refund).where(Refund.donation_id == donation.id).order_by(Refund.id)
            )
        ]
        gift["receipts"] = [
            {
                **_row(
                    r,
                    (
                        "id",
                        "amount_minor",
                        "currency",
                        "issued_on",
                        "voided_on",
                        "void_reason",
                        "donor_name",
                        "donor_codice_fiscale",
                    ),
                ),
                "number": format_receipt_number(r.year, r.number),
            }
            for r in session.scalars(
                select(Receipt).where(Receipt.donation_id == donation.id).order_by(Receipt.id)
            )
        ]
        gifts.append(gift)
    return gifts


def _audit(session: Session, person_id: int, user_id: int | None) -> list[dict[str, Any]]:
    about: list[ColumnElement[bool]] = [
        (AuditEvent.subject_type == "person") & (AuditEvent.subject_id == str(person_id))
    ]
    if user_id is not None:
        about.append(AuditEvent.actor_user_id == user_id)
        about.append((AuditEvent.subject_type == "user") & (AuditEvent.subject_id == str(user_id)))
    own = ("source", "user_agent")
    fields = ("id", "occurred_at", "action", "channel", "subject_type", "subject_id", "details")
    rows = []
    for e in session.scalars(select(AuditEvent).where(or_(*about)).order_by(AuditEvent.id)):
        # The address and browser of an act are the actor's personal data: the person's
        # own acts carry theirs; an act of staff about them (an admin's export, a
        # treasurer's correction) does not disclose the staff member's.
        mine = user_id is not None and e.actor_user_id == user_id
        rows.append(_row(e, fields + own if mine else fields))
    return rows


def collect(session: Session, person_id: int, *, linked: bool = True) -> dict[str, Any]:
    """The person's data (see the module's text); PersonNotFoundError for an unknown id."""
    person = get_person(session, person_id)
    user = user_of_person(session, person_id)
    data: dict[str, Any] = {
        "format": FORMAT,
        "person": _row(
            person,
            ("id", "full_name", "email", "codice_fiscale", "address", "created_at", "erased_at"),
        ),
        "user": None,
        "api_tokens": [],
        "sign_in_links": [],
        "registrations": [],
        "applications": [],
        "committees": [],
        "foundations": [],
        "donations": [],
        "loans": [],
        # Kept by person id, not through the address: always the person's own.
        "volunteer_enrolments": [
            _row(e, ("id", "enrolled_on", "ended_on", "activity", "created_at", "ended_at"))
            for e in session.scalars(
                select(VolunteerEnrolment)
                .where(VolunteerEnrolment.person_id == person_id)
                .order_by(VolunteerEnrolment.id)
            )
        ],
        "volunteer_hours": [
            _row(i, ("id", "project_id", "activity", "role", "minutes", "value_minor", "done_on"))
            for i in session.scalars(
                select(FigurativeItem)
                .where(FigurativeItem.person_id == person_id, FigurativeItem.kind == "volunteer")
                .order_by(FigurativeItem.id)
            )
        ],
        "linked_records_included": linked,
    }
    registrations = select(Registration).where(Registration.email == person.email)
    if user is not None:
        data["user"] = {
            **_row(
                user,
                (
                    "id",
                    "active",
                    "locale",
                    "created_at",
                    "email_verified_at",
                    "password_changed_at",
                    "totp_enrolled_at",
                ),
            ),
            "roles": sorted(user.roles),
        }
        data["api_tokens"] = [
            _row(
                t,
                (
                    "id",
                    "name",
                    "prefix",
                    "scopes",
                    "created_at",
                    "expires_at",
                    "revoked_at",
                    "last_used_at",
                    "last_used_from",
                ),
            )
            for t in session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
            )
        ]
        data["sign_in_links"] = [
            _row(link, ("id", "created_at", "expires_at", "used_at"))
            for link in session.scalars(
                select(SignInLink).where(SignInLink.user_id == user.id).order_by(SignInLink.id)
            )
        ]
        registrations = select(Registration).where(
            or_(Registration.user_id == user.id, Registration.email == person.email)
        )
        applications = []
        for application in session.scalars(
            select(Application)
            .where(Application.proponent_user_id == user.id)
            .order_by(Application.id)
        ):
            row = _row(
                application,
                (
                    "id",
                    "call_id",
                    "title",
                    "summary",
                    "requested_minor",
                    "currency",
                    "kind",
                    "status",
                    "public_name_consent",
                    "created_at",
                    "submitted_at",
                ),
            )
            row["history"] = [
                _row(ev, ("from_status", "to_status", "occurred_at", "note"))
                for ev in session.scalars(
                    select(ApplicationEvent)
                    .where(ApplicationEvent.application_id == application.id)
                    .order_by(ApplicationEvent.id)
                )
            ]
            applications.append(row)
        data["applications"] = applications
        data["committees"] = [
            _row(c, ("call_id", "added_at"))
            for c in session.scalars(select(CallReviewer).where(CallReviewer.user_id == user.id))
        ]
        data["foundations"] = [
            {"foundation_id": f.foundation_id}
            for f in session.scalars(
                select(FoundationOfficer).where(FoundationOfficer.user_id == user.id)
            )
        ]
    data["registrations"] = [
        _row(
            r,
            (
                "id",
                "email",
                "full_name",
                "codice_fiscale",
                "role",
                "locale",
                "created_at",
                "completed_at",
            ),
        )
        for r in session.scalars(registrations.order_by(Registration.id))
    ]
    if linked:
        data["donations"] = _donations(session, person_id)
        data["loans"] = [
            _row(
                loan,
                (
                    "id",
                    "fund_id",
                    "principal_minor",
                    "currency",
                    "term_months",
                    "annual_rate",
                    "method",
                    "grace_months",
                    "first_due_on",
                    "status",
                    "transfer_reference",
                    "created_at",
                    "disbursed_on",
                    "closed_on",
                ),
            )
            for loan in session.scalars(
                select(Loan).where(Loan.borrower_person_id == person_id).order_by(Loan.id)
            )
        ]
    data["audit_events"] = _audit(session, person_id, user.id if user is not None else None)
    return data
