"""The API's view of people: `/me`, the user the bearer token belongs to, and their tokens;
a person's data export (their own, or anyone's for an admin) and an admin's erasure."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.people import commands
from ledger.people import service as people_service
from ledger.people.models import MONEY, READ
from ledger.privacy import commands as privacy
from web import views
from web.access import allow, needs_scope, signed_in
from web.api.common import bp, json_answer
from web.api.docs import documented
from web.api.inputs import json_body, load
from web.db import in_transaction
from web.extensions import limiter, two_factor_key, two_factor_limit
from web.people.reads import own_tokens
from web.people.schemas import (
    EraseSchema,
    ErasureSchema,
    MeSchema,
    PersonExportSchema,
    TokenListSchema,
    TokenSchema,
)


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


@bp.get("/me/data")
@signed_in
@needs_scope(READ)
@documented(
    "The caller's personal data",
    tag="meta",
    responses={200: ("Everything the product holds about the caller.", PersonExportSchema)},
)
def my_data_view() -> ResponseReturnValue:
    """Everything the product holds about the caller (GDPR art. 15 and 20), audited as
    `person.export`. Until the caller's address is confirmed, the records linked to them only
    through it (gifts, receipts, loans) are left out."""
    principal = views.principal()
    origin, clock = views.origin(), views.clock()

    def work(db: Session) -> dict[str, object]:
        person_id = people_service.get_user(db, principal.user_id).person_id
        return privacy.export_person(db, person_id, origin=origin, clock=clock).value

    return json_answer(PersonExportSchema(), in_transaction(work), **{"Cache-Control": "no-store"})


@bp.get("/people/<int:person_id>/data")
@allow("admin")
# A money token: issued only after a TOTP code, as the admin page asks for two-factor.
# A read token (no code needed) let an admin without two-factor export anyone's data.
@needs_scope(MONEY)
@documented(
    "A person's data",
    tag="meta",
    responses={200: ("Everything the product holds about the person.", PersonExportSchema)},
    errors={404: "`person_not_found`: no person has this id."},
)
def person_data_view(person_id: int) -> ResponseReturnValue:
    """Everything the product holds about a person, for an admin with a money token (issued
    after a TOTP code, like the admin page's two-factor); audited as `person.export`."""
    origin, clock = views.origin(), views.clock()
    data = in_transaction(
        lambda db: privacy.export_person(db, person_id, origin=origin, clock=clock).value
    )
    return json_answer(PersonExportSchema(), data, **{"Cache-Control": "no-store"})


@bp.post("/people/<int:person_id>/erase")
@allow("admin")
@needs_scope(MONEY)
# The TOTP code is limited per user as everywhere else: a stolen money token must not
# let its holder guess the admin's authenticator.
@limiter.limit(two_factor_limit, key_func=two_factor_key)
@documented(
    "Erase a person",
    tag="meta",
    body=EraseSchema,
    responses={200: ("What was replaced, and what the law requires to keep.", ErasureSchema)},
    errors={
        403: "`not_allowed`, `two_factor_required`: not an admin, the admin themselves, "
        "or an admin without TOTP.",
        404: "`person_not_found`: no person has this id.",
        409: "`already_erased`: the person was erased before.",
        422: "`invalid_totp_code`: the code is wrong or was used.",
    },
)
def erase_person_view(person_id: int) -> ResponseReturnValue:
    """Replace the person's name, e-mail, codice fiscale and address and end their account;
    the books, the journal and what the law requires to keep (listed, with the reason) stay.
    Needs the admin's TOTP code; audited as `person.erase`. It cannot be undone."""
    body = load(EraseSchema(), json_body())
    origin, clock, box = views.origin(), views.clock(), views.secret_box()
    done = in_transaction(
        lambda db: (
            privacy.erase_person(
                db, person_id, origin=origin, clock=clock, code=body["code"], box=box
            ).value
        )
    )
    return json_answer(ErasureSchema(), done.as_dict())
