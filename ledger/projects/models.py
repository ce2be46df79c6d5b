"""Tables of projects and their reporting to funders (migration 0021_projects).

- `project_organisations`: the partners a project works with (a partner, a
  co-funder, a supplier), with an optional tax code or VAT number. Names are
  an organisation's, never a person's; they never enter the journal.
- `projects`: title, lead organisation (capofila), programme and call, period,
  status, currency; `project_partners` (organisation and role) and
  `project_funders` (a grants foundation with its settings: the grant, the
  largest grant share of the cost, the least co-financing share, the largest
  overheads share, the variance a line may take, whether volunteer time and
  in-kind count as co-financing). Shares and percentages are decimal strings
  ("30", "12.5": per cent), money is integer minor units.
- `budget_versions`, `budget_lines`, `budget_amounts`: a budget is a version
  (1, 2, ...: a revision is a new version approved by a second person; earlier
  ones stay readable) of lines (code, macro-line) x funding sources (`SOURCES`,
  with the funder or the partner it names).
- `project_documents`, `project_files`, `expense_allocations`: an expense is a
  document (its eligible amount: net, plus VAT when not recoverable), its file
  (bytes and SHA-256), its proof of payment (a reconciled bank line or a
  journal entry) and its allocation rows, which never exceed it.
- `project_receipts`: money in (a funder's advance or tranche, a partner's
  cash), and the payouts of linked campaigns' escrow and released matching
  grants (proposed by one person, paid by another, once per campaign).
- `project_campaigns`: the campaigns whose money goes to a project.
- `volunteer_rates`, `figurative_items`: the hourly rates per role, and
  volunteer hours and in-kind gifts at fair value (a figurative layer).
- `volunteer_enrolments` (migration 0027_volunteer_register): the organisation's
  register of volunteers (art. 17 c.1 CTS), one row per period a person serves
  (from, to, the service), kept by id: at most one open period per person, the
  periods of a person never overlap, a period is ended once and never deleted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, UtcDateTime

ORGANISATION_KINDS = (
    "association",
    "cooperative",
    "foundation",
    "public_body",
    "company",
    "other",
)
PARTNER_ROLES = ("partner", "co_funder", "supplier")
PROJECT_STATES = ("planned", "running", "closed")
# A budget's funding sources: `grant` names a funder, `partner` an organisation.
SOURCES = ("grant", "partner", "fundraising", "own", "public", "volunteer", "in_kind")
FIGURATIVE_SOURCES = ("volunteer", "in_kind")
# The categories of a line (macro-lines), as funders name them.
CATEGORIES = (
    "personnel",
    "services",
    "goods",
    "works",
    "running",
    "travel",
    "beneficiaries",
    "overheads",
)
VERSION_STATES = ("proposed", "approved", "refused")
DOCUMENT_KINDS = ("invoice", "receipt", "payslip", "timesheet")
# How an expense was paid: from the project's bank (proof: a reconciled bank line
# or an entry), still owed (a payable), or borne directly by a partner.
PAID_BY = ("bank", "payable", "partner")
RECEIPT_KINDS = ("grant_advance", "grant_tranche", "partner_cash", "campaign_payout")
RECEIPT_STATES = ("proposed", "paid")
FIGURATIVE_KINDS = ("volunteer", "in_kind")


class ProjectOrganisation(Base):
    __tablename__ = "project_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    tax_code: Mapped[str | None] = mapped_column(String(16))
    vat_number: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrganisationMember(Base):
    """A user who acts for an organisation: project staff of the projects it leads, or a
    partner's user who reads its own contributions and costs (migration 0024)."""

    __tablename__ = "project_organisation_members"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("project_organisations.id"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period_ordered"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    lead_organisation_id: Mapped[int] = mapped_column(ForeignKey("project_organisations.id"))
    programme: Mapped[str | None] = mapped_column(String(200))
    call_reference: Mapped[str | None] = mapped_column(String(120))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProjectPartner(Base):
    __tablename__ = "project_partners"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("project_organisations.id"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(12), primary_key=True)


class ProjectFunder(Base):
    __tablename__ = "project_funders"
    __table_args__ = (
        UniqueConstraint("project_id", "foundation_id"),
        CheckConstraint("grant_minor > 0", name="grant_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    foundation_id: Mapped[int] = mapped_column(ForeignKey("foundations.id"), index=True)
    grant_minor: Mapped[int] = mapped_column(BigInteger)
    max_grant_pct: Mapped[str | None] = mapped_column(String(12))
    min_cofinancing_pct: Mapped[str | None] = mapped_column(String(12))
    max_overheads_pct: Mapped[str | None] = mapped_column(String(12))
    variance_pct: Mapped[str] = mapped_column(String(12))
    volunteer_counts: Mapped[bool] = mapped_column(Boolean)
    in_kind_counts: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BudgetVersion(Base):
    __tablename__ = "budget_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        CheckConstraint(
            "approved_by_user_id IS NULL OR approved_by_user_id <> proposed_by_user_id",
            name="four_eyes",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(String(500))
    proposed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("budget_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))


class BudgetAmount(Base):
    __tablename__ = "budget_amounts"
    __table_args__ = (
        UniqueConstraint("line_id", "source", "source_ref"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id"), index=True)
    source: Mapped[str] = mapped_column(String(12))
    # The funder (project_funders.id) of a grant, the organisation of a partner's share.
    source_ref: Mapped[int] = mapped_column(Integer, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class ProjectFile(Base):
    __tablename__ = "project_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProjectDocument(Base):
    __tablename__ = "project_documents"
    __table_args__ = (
        UniqueConstraint("project_id", "supplier_id", "kind", "number"),
        CheckConstraint("net_minor > 0 AND vat_minor >= 0", name="amounts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("project_organisations.id"))
    number: Mapped[str] = mapped_column(String(64))
    issued_on: Mapped[date] = mapped_column(Date)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    vat_recoverable: Mapped[bool] = mapped_column(Boolean)
    eligible_minor: Mapped[int] = mapped_column(BigInteger)
    paid_by: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("project_organisations.id"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("project_files.id"))
    payment_line_id: Mapped[int | None] = mapped_column(BigInteger)
    payment_sequence: Mapped[int | None] = mapped_column(BigInteger)
    entry_sequence: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ExpenseAllocation(Base):
    __tablename__ = "expense_allocations"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("project_documents.id"), index=True)
    line_code: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(12))
    source_ref: Mapped[int] = mapped_column(Integer, default=0)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("project_organisations.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_sequence: Mapped[int] = mapped_column(BigInteger)


class ProjectCampaign(Base):
    __tablename__ = "project_campaigns"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProjectReceipt(Base):
    __tablename__ = "project_receipts"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "paid_by_user_id IS NULL OR paid_by_user_id <> proposed_by_user_id",
            name="four_eyes",
        ),
        UniqueConstraint("campaign_id", name="uq_project_receipts_campaign"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    funder_id: Mapped[int | None] = mapped_column(ForeignKey("project_funders.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("project_organisations.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    escrow_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    match_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    received_on: Mapped[date] = mapped_column(Date)
    entry_sequence: Mapped[int | None] = mapped_column(BigInteger)
    proposed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class VolunteerRate(Base):
    __tablename__ = "volunteer_rates"
    __table_args__ = (
        UniqueConstraint("role", "valid_from"),
        CheckConstraint("hourly_minor > 0", name="rate_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(64))
    hourly_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    basis: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FigurativeItem(Base):
    __tablename__ = "figurative_items"
    __table_args__ = (CheckConstraint("value_minor > 0", name="value_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("project_organisations.id"))
    activity: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(64))
    minutes: Mapped[int | None] = mapped_column(Integer)
    rate_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_rates.id"))
    value_minor: Mapped[int] = mapped_column(BigInteger)
    done_on: Mapped[date] = mapped_column(Date)
    entry_sequence: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class VolunteerEnrolment(Base):
    """A period of a person in the register of volunteers (art. 17 c.1 CTS): their
    volunteer hours count only on the days of such a period."""

    __tablename__ = "volunteer_enrolments"
    __table_args__ = (
        CheckConstraint("ended_on IS NULL OR ended_on >= enrolled_on", name="period_ordered"),
        # One open period per person at a time.
        Index(
            "uq_volunteer_enrolments_open",
            "person_id",
            unique=True,
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    enrolled_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    activity: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
