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
