"""The API's view of people: `/me`, the user the bearer token belongs to."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from web import views
from web.access import signed_in
from web.api.common import bp, json_answer
from web.api.docs import documented
from web.people.schemas import MeSchema


@bp.get("/me")
@signed_in
@documented("The caller", tag="meta", responses={200: ("The token's user.", MeSchema)})
def me() -> ResponseReturnValue:
    """The user the bearer token belongs to: id, e-mail, name and roles. Nobody else's."""
    principal = views.principal()
    return json_answer(
        MeSchema(),
        {
            "user_id": principal.user_id,
            "email": principal.email,
            "full_name": principal.full_name,
            "roles": sorted(principal.roles),
            "token_id": principal.token_id,
        },
    )
