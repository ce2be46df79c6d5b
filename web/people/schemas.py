"""marshmallow schemas of the API's caller (`GET /me`) and their own tokens (`/me/tokens`)."""

from __future__ import annotations

from marshmallow import Schema, fields


class MeSchema(Schema):
    user_id = fields.Integer(required=True)
    email = fields.String(required=True)
    full_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    token_id = fields.Integer(allow_none=True, metadata={"description": "The token in use."})
    scopes = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "What the token in use may do: `read`, `money`."},
    )


class TokenSchema(Schema):
    """One of the caller's tokens; never the token itself, only its first characters."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The token's first characters."})
    scopes = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(
        allow_none=True, metadata={"description": "Last use, to the minute."}
    )
    last_used_from = fields.String(
        allow_none=True, metadata={"description": "The address of the last use."}
    )
    status = fields.String(required=True, metadata={"enum": ["live", "revoked", "expired"]})


class TokenListSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


class PersonExportSchema(Schema):
    """Everything the product holds about a person (`ledger.privacy.export`)."""

    format = fields.String(required=True, metadata={"description": "The export's version."})
    person = fields.Dict(required=True)
    user = fields.Dict(allow_none=True)
    api_tokens = fields.List(fields.Dict(), required=True)
    sign_in_links = fields.List(fields.Dict(), required=True)
    registrations = fields.List(fields.Dict(), required=True)
    applications = fields.List(fields.Dict(), required=True)
    committees = fields.List(fields.Dict(), required=True)
    foundations = fields.List(fields.Dict(), required=True)
    donations = fields.List(
        fields.Dict(), required=True, metadata={"description": "With refunds and receipts."}
    )
    loans = fields.List(fields.Dict(), required=True)
    volunteer_enrolments = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Their periods in the register of volunteers."},
    )
    volunteer_hours = fields.List(fields.Dict(), required=True)
    audit_events = fields.List(fields.Dict(), required=True)
    linked_records_included = fields.Boolean(
        required=True,
        metadata={
            "description": "False for an account whose address is not confirmed: the records "
            "linked to the person only through the address are left out."
        },
    )


class EraseSchema(Schema):
    code = fields.String(
        required=True, metadata={"description": "The admin's TOTP code, valid now."}
    )


class KeptSchema(Schema):
    what = fields.String(
        required=True,
        metadata={
            "enum": [
                "receipts",
                "loan_contracts",
                "bank_lines",
                "applications",
                "volunteer_register",
            ]
        },
    )
    count = fields.Integer(required=True)
    reason = fields.String(required=True)


class ErasureSchema(Schema):
    person_id = fields.Integer(required=True)
    user_id = fields.Integer(allow_none=True)
    erased_at = fields.String(required=True)
    replaced = fields.List(fields.String(), required=True)
    kept = fields.List(
        fields.Nested(KeptSchema),
        required=True,
        metadata={"description": "What the law requires to keep, and why."},
    )
