"""marshmallow schema of the API's caller (`GET /me`)."""

from __future__ import annotations

from marshmallow import Schema, fields


class MeSchema(Schema):
    user_id = fields.Integer(required=True)
    email = fields.String(required=True)
    full_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    token_id = fields.Integer(allow_none=True, metadata={"description": "The token in use."})
