"""The API's view of people: `/me`, the user the bearer token belongs to, and their tokens."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.people import commands
from ledger.people.models import MONEY, READ
from web import views
from web.access import needs_scope, signed_in
from web.api.common import bp, json_answer
from web.api.docs import documented
from web.db import in_transaction
from web.people.reads import own_tokens
from web.people.schemas import MeSchema, TokenListSchema, TokenSchema


@bp.get("/me")
@signed_in
@needs_scope(READ)
@documented("The caller", tag="meta", responses={200: ("The token's user.", MeSchema)})
def me() -> ResponseReturnValue:
    """The user the bearer token belongs to: id, e-mail, name, roles and the token's scopes."""
    principal = views.principal()
    return json_answer(
        MeSchema(),
        {
            "user_id": principal.user_id,
            "email": principal.email,
            "full_name": principal.full_name,
            "roles": sorted(principal.roles),
            "token_id": principal.token_id,
            "scopes": sorted(principal.scopes or ()),
        },
    )


@bp.get("/me/tokens")
@signed_in
@needs_scope(READ)
@documented(
    "The caller's API tokens",
    tag="meta",
    responses={200: ("The caller's tokens, oldest first.", TokenListSchema)},
)
def my_tokens_view() -> ResponseReturnValue:
    """The caller's own tokens (live, revoked, expired) with their last use; never the
    tokens themselves. New tokens are issued on the account page."""
    principal = views.principal()
    now = views.clock().now()
    rows = views.read_once(lambda db: own_tokens(db, principal.user_id, now))
    return json_answer(TokenListSchema(), {"tokens": rows})


@bp.post("/me/tokens/<int:token_id>/revoke")
@signed_in
@needs_scope(MONEY)
@documented(
    "Revoke one of the caller's API tokens",
    tag="meta",
    responses={200: ("The token, revoked (revoking again changes nothing).", TokenSchema)},
    errors={404: "`token_not_found`: no token of the caller has this id."},
)
def revoke_my_token_view(token_id: int) -> ResponseReturnValue:
    """Revoke at once one of the caller's own tokens (the one in use too)."""
    principal = views.principal()
    origin, clock = views.origin(), views.clock()

    def work(db: Session) -> dict[str, object]:
        commands.revoke_token(db, token_id, owner_id=principal.user_id, origin=origin, clock=clock)
        return next(
            row for row in own_tokens(db, principal.user_id, clock.now()) if row["id"] == token_id
        )

    return json_answer(TokenSchema(), in_transaction(work))
