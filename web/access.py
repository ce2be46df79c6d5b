"""Who may use each route, checked in one place before any view runs.

Every view declares its audience with one decorator:

- `@public`: anyone, signed in or not;
- `@signed_in`: any signed-in user, whatever their roles;
- `@allow("treasurer", "admin", two_factor=True)`: users holding one of the roles;
  with `two_factor`, a treasurer or admin must also have enrolled TOTP and
  confirmed a code in this session (pages that move money or change access).

`enforce_access` runs before every request and refuses by default: an endpoint
without a declaration answers 403 to everyone, so a new route is closed until
its author says who may use it (tests/web/test_role_matrix.py lists them all).

Pages know the user from the flask-login session cookie. The JSON API under
`/api/` never reads the cookie (its routes are exempt from CSRF, so a cookie
would let another site act for the user): it accepts only
`Authorization: Bearer <token>`, and a token carries exactly its user's roles.
Refusals: an anonymous visitor of a page is sent to the sign-in page; an
anonymous API client gets 401 with `WWW-Authenticate: Bearer`; a signed-in user
without the role gets 403. None of them reaches the view, so none sees data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy.orm import Session
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from ledger.audit.service import Origin
from ledger.people import service as people
from ledger.people.models import ROLES, TWO_FACTOR_ROLES, User
from web.db import current_ledger

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "_ledger_access"
# Session keys: whether this session confirmed a TOTP code, and the user waiting
# to confirm one after their password was accepted.
SESSION_TWO_FACTOR = "two_factor_ok"
SESSION_PENDING_USER = "pending_two_factor_user"


@dataclass(frozen=True, slots=True)
class Access:
    """The audience of a route."""

    anonymous: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    any_signed_in: bool = False
    two_factor: bool = False

    def admits(self, principal: Principal | None) -> bool:
        if self.anonymous:
            return True
        if principal is None:
            return False
        return self.any_signed_in or bool(self.roles & principal.roles)


@dataclass(frozen=True, slots=True)
class Principal(UserMixin):  # type: ignore[misc]
    """The signed-in user as the request sees it: a snapshot, not a database row.

    The session stores `id:fingerprint`, where the fingerprint changes with the
    password and at every sign-out (`users.session_epoch`): a cookie copied before
    either no longer signs anyone in.
    """

    user_id: int
    email: str
    full_name: str
    roles: frozenset[str]
    totp_enrolled: bool
    locale: str
    fingerprint: str
    token_id: int | None = None
    # Whether the owner proved they read the address's mail (see ledger.people).
    email_verified: bool = False

    def get_id(self) -> str:
        return f"{self.user_id}:{self.fingerprint}"

    @property
    def needs_two_factor(self) -> bool:
        return bool(self.roles & set(TWO_FACTOR_ROLES))

    @classmethod
    def of(cls, user: User, token_id: int | None = None) -> Principal:
        return cls(
            user_id=user.id,
            email=user.person.email,
            full_name=user.person.full_name,
            roles=user.roles,
            totp_enrolled=user.totp_enrolled,
            locale=user.locale,
            fingerprint=people.session_fingerprint(user),
            token_id=token_id,
            email_verified=user.email_verified,
        )


def _declare(view: F, access: Access) -> F:
    setattr(view, ACCESS_ATTRIBUTE, access)
    return view


def public(view: F) -> F:
    """Anyone may use this route."""
    return _declare(view, Access(anonymous=True))


def signed_in(view: F) -> F:
    """Any signed-in user may use this route."""
    return _declare(view, Access(any_signed_in=True))


def allow(*roles: str, two_factor: bool = False) -> Callable[[F], F]:
    """Users holding one of `roles` may use this route."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"allow() needs known roles, got {roles!r}")

    def decorate(view: F) -> F:
        return _declare(view, Access(roles=frozenset(roles), two_factor=two_factor))

    return decorate


def access_of(endpoint: str | None, app: Flask | None = None) -> Access | None:
    """The declared access of an endpoint, or None when it declares none."""
    if endpoint is None:
        return None
    application = app or current_app
    if endpoint == "static":
        return Access(anonymous=True)
    view = application.view_functions.get(endpoint)
    if view is None:
        return None
    access = getattr(view, ACCESS_ATTRIBUTE, None)
    return access if isinstance(access, Access) else None


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def current_principal() -> Principal | None:
    """The user of this request (page session or API token), or None."""
    if is_api_request():
        principal: Principal | None = g.get("api_principal")
        return principal
    if current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[no-any-return]
    return None


def two_factor_confirmed() -> bool:
    return bool(session.get(SESSION_TWO_FACTOR))


def client_address() -> str | None:
    """The client's address as the WSGI server saw it (see README on proxies)."""
    return request.remote_addr


def request_origin() -> Origin:
    """The origin of this request: channel, user, address and user agent."""
    principal = current_principal()
    return Origin(
        channel="api" if is_api_request() else "web",
        user_id=principal.user_id if principal else None,
        source=client_address(),
        user_agent=request.headers.get("User-Agent"),
    )


def _load_principal(session_id: str) -> Principal | None:
    user_part, _, fingerprint = session_id.partition(":")
    if not user_part.isdigit():
        return None

    def read(db: Session) -> Principal | None:
        user = db.get(User, int(user_part))
        if user is None or not user.active:
            return None
        principal = Principal.of(user)
        return principal if principal.fingerprint == fingerprint else None

    return current_ledger().read(read)


def _bearer_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None

    def read(db: Session) -> Principal | None:
        found = people.user_for_token(db, token.strip())
        if found is None:
            return None
        user, row = found
        return Principal.of(user, token_id=row.id)

    return current_ledger().read(read)


def _unauthorized_api() -> Unauthorized:
    return Unauthorized(
        "a valid API token is required: Authorization: Bearer <token>",
        www_authenticate=WWWAuthenticate("Bearer", {"realm": "api"}),
    )


def enforce_access() -> ResponseReturnValue | None:
    """The before-request check; returns a redirect or raises 401/403 when refused."""
    if request.endpoint is None:
        return None  # 404 or 405: the router answers, no view runs
    access = access_of(request.endpoint)
    if access is None:
        current_app.logger.error("route %s declares no access; refused", request.endpoint)
        raise Forbidden("this route declares no audience")
    if is_api_request():
        g.api_principal = _bearer_principal()
        if request.headers.get("Authorization") and g.api_principal is None:
            raise _unauthorized_api()
    principal = current_principal()
    if access.admits(principal):
        if access.two_factor and principal is not None and principal.needs_two_factor:
            return _require_two_factor(principal)
        return None
    if principal is None:
        if is_api_request():
            raise _unauthorized_api()
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if is_api_request():
        raise Forbidden("your token's roles do not allow this request")
    raise Forbidden("your roles do not include this page")


def _require_two_factor(principal: Principal) -> ResponseReturnValue | None:
    if is_api_request():
        return None  # tokens are issued by an operator; the page flow is what TOTP guards
    if not principal.totp_enrolled:
        return redirect(url_for("auth.two_factor_enrol", next=request.full_path.rstrip("?")))
    if not two_factor_confirmed():
        return redirect(url_for("auth.two_factor_verify", next=request.full_path.rstrip("?")))
    return None


def init_access(app: Flask) -> None:
    """Install flask-login and the access check on `app`."""
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.login_view = "auth.login"
    manager.user_loader(_load_principal)
    manager.init_app(app)
    app.before_request(enforce_access)
