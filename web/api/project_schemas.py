"""marshmallow schemas of the projects API (`web.api.projects`).

Amounts are decimal strings in the project's currency; a grant's `ref` (in a
budget amount or an allocation) and a report's `funder` are the foundation's id,
as in `ledger projects`; a partner's `ref` is the organisation's id. An expense's
file travels inside the JSON body as base64 (`file`), so an expense is one
idempotent JSON request like every other act.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ledger.projects.expenses import CHARGE_SOURCES
from ledger.projects.models import (
    CATEGORIES,
    DOCUMENT_KINDS,
    ORGANISATION_KINDS,
    PAID_BY,
    PARTNER_ROLES,
    SOURCES,
)
from web.api.schemas import Amount, IsoDate, QueryInteger, StrictBoolean, currency_field

PCT = r"^[0-9]+(\.[0-9]+)?$"
REPORT_FORMATS = ("json", "csv", "pdf", "xlsx")


def _text(limit: int, **kwargs: object) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=limit), **kwargs)  # type: ignore[arg-type]


def _id(**kwargs: object) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- input
class OrganisationCreateSchema(Schema):
    name = _text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORGANISATION_KINDS))
    tax_code = fields.String(load_default=None, allow_none=True)
    vat_number = fields.String(load_default=None, allow_none=True)


class PartnerInputSchema(Schema):
    organisation_id = _id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(PARTNER_ROLES))


class FunderInputSchema(Schema):
    foundation_id = _id(required=True)
    grant = Amount(required=True)
    max_grant_pct = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(PCT))
    min_cofinancing_pct = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(PCT)
    )
    max_overheads_pct = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(PCT)
    )
    variance_pct = fields.String(load_default="20", validate=validate.Regexp(PCT))
    volunteer_counts = StrictBoolean(load_default=False)
    in_kind_counts = StrictBoolean(load_default=False)


class ProjectCreateSchema(Schema):
    title = _text(200, required=True)
    lead_organisation_id = _id(required=True)
    starts_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
    currency = currency_field(load_default="EUR")
    programme = fields.String(load_default=None, allow_none=True)
    call_reference = fields.String(load_default=None, allow_none=True)
    partners = fields.List(fields.Nested(PartnerInputSchema), load_default=list)
    funders = fields.List(fields.Nested(FunderInputSchema), load_default=list)


class SourceAmountInputSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    ref = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0))
    amount = Amount(required=True)


class LineInputSchema(Schema):
    code = _text(16, required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    title = _text(200, required=True)
    amounts = fields.List(fields.Nested(SourceAmountInputSchema), load_default=list)


class BudgetProposeSchema(Schema):
    lines = fields.List(fields.Nested(LineInputSchema), required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class AllocationInputSchema(Schema):
    line = _text(16, required=True)
    source = fields.String(required=True, validate=validate.OneOf(CHARGE_SOURCES))
    ref = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0),
        metadata={"description": "A grant's foundation id, a partner's organisation id, or 0."},
    )
    partner_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    amount = Amount(required=True)


class ExpenseCreateSchema(Schema):
    kind = fields.String(load_default="invoice", validate=validate.OneOf(DOCUMENT_KINDS))
    supplier_id = _id(required=True)
    number = _text(64, required=True)
    issued_on = IsoDate(required=True)
    net = Amount(required=True)
    vat = Amount(load_default="0.00")
    vat_recoverable = StrictBoolean(load_default=False)
    paid_by = fields.String(load_default="bank", validate=validate.OneOf(PAID_BY))
    partner_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    allocations = fields.List(fields.Nested(AllocationInputSchema), required=True)
    file = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The document's file (PDF, JPEG or PNG, at most 10 MB) as "
            "base64 (RFC 4648, standard alphabet)."
        },
    )
    bank_line_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    entry_sequence = fields.Integer(strict=True, load_default=None, allow_none=True)


class ChargeSchema(Schema):
    allocations = fields.List(fields.Nested(AllocationInputSchema), required=True)


class ProofSchema(Schema):
    bank_line_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    entry_sequence = fields.Integer(strict=True, load_default=None, allow_none=True)


class GrantReceivedSchema(Schema):
    funder_id = _id(required=True, metadata={"description": "The foundation's id."})
    amount = Amount(required=True)
    kind = fields.String(
        load_default="grant_advance", validate=validate.OneOf(("grant_advance", "grant_tranche"))
    )
    received_on = IsoDate(load_default=None, allow_none=True)


class ContributionSchema(Schema):
    organisation_id = _id(required=True)
    amount = Amount(required=True)
    received_on = IsoDate(load_default=None, allow_none=True)


class CampaignRefSchema(Schema):
    campaign_id = _id(required=True)


class RateCreateSchema(Schema):
    role = _text(64, required=True)
    hourly = Amount(required=True)
    valid_from = IsoDate(required=True)
    currency = currency_field(load_default="EUR")
    basis = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class VolunteerHoursSchema(Schema):
    person_id = _id(required=True)
    activity = _text(200, required=True)
    role = _text(64, required=True)
    minutes = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    done_on = IsoDate(required=True)


class EnrolSchema(Schema):
    person_id = _id(required=True, metadata={"description": "The person's id."})
    enrolled_on = IsoDate(required=True, metadata={"description": "The first day."})
    activity = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "The service the volunteer does."},
    )


class EndEnrolmentSchema(Schema):
    ended_on = IsoDate(required=True, metadata={"description": "The last day (included)."})


class InKindSchema(Schema):
    description = _text(200, required=True)
    fair_value = Amount(required=True)
    received_on = IsoDate(required=True)
    organisation_id = fields.Integer(strict=True, load_default=None, allow_none=True)


class ReportQuerySchema(Schema):
    funder = QueryInteger(required=True, metadata={"description": "The foundation's id."})
    date_from = IsoDate(data_key="from", load_default=None)
    date_to = IsoDate(data_key="to", load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(REPORT_FORMATS))


# --------------------------------------------------------------------------- output
class NamedSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PeriodSchema(Schema):
    starts_on = fields.Date(data_key="from")
    ends_on = fields.Date(data_key="to")


class ProjectSummarySchema(Schema):
    id = fields.Integer()
    title = fields.String()
    status = fields.String()
    currency = fields.String()
    period = fields.Nested(PeriodSchema)
    funders = fields.List(fields.Nested(NamedSchema))


class ProjectListSchema(Schema):
    projects = fields.List(fields.Nested(ProjectSummarySchema))


class PartnerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()


class FunderSchema(Schema):
    id = fields.Integer(metadata={"description": "The foundation's id."})
    name = fields.String()
    grant = fields.String()
    max_grant_pct = fields.String(allow_none=True)
    min_cofinancing_pct = fields.String(allow_none=True)
    max_overheads_pct = fields.String(allow_none=True)
    variance_pct = fields.String()
    volunteer_counts = fields.Boolean()
    in_kind_counts = fields.Boolean()


class SourceAmountSchema(Schema):
    source = fields.String()
    ref = fields.Integer()
    amount = fields.String()


class BudgetLineSchema(Schema):
    code = fields.String()
    category = fields.String()
    title = fields.String()
    amounts = fields.List(fields.Nested(SourceAmountSchema))
    total = fields.String()


class BudgetSchema(Schema):
    version_id = fields.Integer()
    number = fields.Integer()
    status = fields.String()
    note = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(BudgetLineSchema))
    total = fields.String()


class TotalsSchema(Schema):
    budget = fields.String()
    actual = fields.String()
    received = fields.String()
    figurative = fields.String()


class PartRowSchema(Schema):
    kind = fields.String()
    id = fields.Integer()
    organisation_id = fields.Integer()
    amount = fields.String()
    on = fields.Date()


class PartSchema(Schema):
    organisations = fields.List(fields.Integer())
    contributions = fields.List(fields.Nested(PartRowSchema))
    costs = fields.List(fields.Nested(PartRowSchema))


class ProjectSchema(ProjectSummarySchema):
    programme = fields.String(allow_none=True)
    call_reference = fields.String(allow_none=True)
    lead = fields.Nested(NamedSchema)
    partners = fields.List(fields.Nested(PartnerSchema))
    funders = fields.List(fields.Nested(FunderSchema))
    budget = fields.Nested(BudgetSchema, allow_none=True)
    totals = fields.Nested(TotalsSchema, allow_none=True)
    part = fields.Nested(
        PartSchema,
        allow_none=True,
        metadata={"description": "For a partner's user: only its organisations' part."},
    )


class OrganisationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    tax_code = fields.String(allow_none=True)
    vat_number = fields.String(allow_none=True)


class VersionSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    number = fields.Integer()
    status = fields.String()
    note = fields.String(allow_none=True)


class ExpenseAnswerSchema(Schema):
    document_id = fields.Integer()
    sequence = fields.Integer()
    eligible = fields.String()
    allocated = fields.String()


class ProofAnswerSchema(Schema):
    document_id = fields.Integer()


class ReceivedSchema(Schema):
    receipt_id = fields.Integer()
    sequence = fields.Integer()
    amount = fields.String()


class LinkAnswerSchema(Schema):
    project_id = fields.Integer()
    campaign_id = fields.Integer()


class PayoutSchema(Schema):
    receipt_id = fields.Integer()
    project_id = fields.Integer()
    campaign_id = fields.Integer(allow_none=True)
    status = fields.String()
    amount = fields.String()
    escrow = fields.String()
    match = fields.String()
    sequence = fields.Integer(allow_none=True)


class RateSchema(Schema):
    id = fields.Integer()
    role = fields.String()
    hourly = fields.String()
    currency = fields.String()
    valid_from = fields.Date()
    basis = fields.String(allow_none=True)


class EnrolmentSchema(Schema):
    """A period of a person in the register of volunteers (art. 17 c.1 CTS)."""

    id = fields.Integer()
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "The person's name, as the register shows."})
    enrolled_on = fields.Date()
    ended_on = fields.Date(allow_none=True, metadata={"description": "Null while open."})
    activity = fields.String(allow_none=True)


class RegisterSchema(Schema):
    volunteers = fields.List(
        fields.Nested(EnrolmentSchema),
        required=True,
        metadata={"description": "Open periods first, then by first day."},
    )


class FigurativeAnswerSchema(Schema):
    item_id = fields.Integer()
    sequence = fields.Integer()
    value = fields.String()


class DocumentSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    supplier = fields.Nested(NamedSchema)
    number = fields.String()
    issued_on = fields.Date()
    net = fields.String()
    vat = fields.String()
    eligible = fields.String()
    allocated = fields.String()
    paid_by = fields.String()
    partner_id = fields.Integer(allow_none=True)
    bank_line_id = fields.Integer(allow_none=True)
    payment_sequence = fields.Integer(allow_none=True)
    entry_sequence = fields.Integer()
    file = fields.Dict(
        allow_none=True, metadata={"description": "media_type, size, sha256 and the file's url."}
    )


class DocumentListSchema(Schema):
    documents = fields.List(fields.Nested(DocumentSchema))


class ReportLineSchema(Schema):
    code = fields.String()
    category = fields.String()
    title = fields.String()
    budget = fields.String()
    actual = fields.String()
    pct = fields.String(allow_none=True)
    flagged = fields.Boolean()


class ReportSchema(Schema):
    """The report to a funder (`ledger projects report --format json`), amounts as strings."""

    project = fields.Dict()
    funder = fields.Dict()
    kind = fields.String()
    date_from = fields.String(attribute="from", data_key="from")
    date_to = fields.String(attribute="to", data_key="to")
    currency = fields.String()
    budget_version = fields.Integer(allow_none=True)
    variance_threshold_pct = fields.String()
    lines = fields.List(fields.Nested(ReportLineSchema))
    sources = fields.List(fields.Dict())
    total_budget = fields.String()
    total_actual = fields.String()
    grant = fields.String()
    grant_budget = fields.String()
    grant_actual = fields.String()
    grant_due = fields.String()
    grant_due_rounding = fields.String()
    cofinancing_share = fields.String()
    cofinancing_share_budget = fields.String()
    advances = fields.String()
    still_due = fields.String()
    to_give_back = fields.String()
    documents = fields.List(fields.Dict())
    figurative = fields.Dict()
    chain_head = fields.Dict()
