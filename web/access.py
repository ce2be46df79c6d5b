"""Who may use each route, checked in one place before any view runs.

Every view declares its audience with one decorator:

- `@public`: anyone, signed in or not;
- `@signed_in`: any signed-in user, whatever their roles;
- `@allow("treasurer", "admin", two_factor=True)`: users holding one of the roles;
  with `two_factor`, a user of a role in TWO_FACTOR_ROLES (treasurer, foundation
  officer, admin) must also have enrolled TOTP and confirmed a code in this
  session (pages that move or promise money, or change access).

Every API route that admits no anonymous caller also declares the scope a token
needs, with `@needs_scope(READ)` (every GET) or `@needs_scope(MONEY)` (whatever
moves money or changes state). A route without one refuses every token.

`enforce_access` runs before every request and refuses by default: an endpoint
without a declaration answers 403 to everyone, so a new route is closed until
its author says who may use it (tests/web/test_role_matrix.py lists them all).

Pages know the user from the flask-login session cookie. The JSON API under
`/api/` never reads the cookie (its routes are exempt from CSRF, so a cookie
would let another site act for the user): it accepts only
`Authorization: Bearer <token>`, and a token carries exactly its user's roles,
limited by its scopes. A money token stands in for the page's second factor: the
account page issues one only after a fresh TOTP code (the operator's CLI may
issue any). Refusals: an anonymous visitor of a page is sent to the sign-in
page; an anonymous API client, or one whose token is unknown, revoked or
expired, gets 401 with `WWW-Authenticate: Bearer`; a signed-in user without the
role gets 403; a token without the route's scope gets 403 `insufficient_scope`.
None of them reaches the view, so none sees data.

A token's last use (time and address) is written at most once a minute, in its
own short transaction before the request's unit of work: if it cannot be
written, the request goes on.

A page sign-in ends LEDGER_SESSION_ABSOLUTE_LIFETIME seconds after it began,
however active the session (`end_old_sign_in`, before the access check): the
cookie's own lifetime (LEDGER_PERMANENT_SESSION_LIFETIME) is renewed by every
request, so without this a stolen cookie kept busy would never expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, logout_user
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from ledger.audit.service import Origin
from ledger.people import service as people
from ledger.people.models import ROLES, TOKEN_SCOPES, TWO_FACTOR_ROLES, ApiToken, User
from web.db import current_ledger
from web.errors import error_response
from web.i18n import LANGUAGES, SESSION_LANGUAGE

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "_ledger_access"
SCOPE_ATTRIBUTE = "_ledger_token_scope"
# Session keys: whether this session confirmed a TOTP code, and the user waiting
# to confirm one after their password was accepted.
SESSION_TWO_FACTOR = "two_factor_ok"
SESSION_PENDING_USER = "pending_two_factor_user"
# When this sign-in began: Unix seconds by the server's wall clock (a session's
# age is real time, not the ledger's business clock, which tests move by months).
SESSION_SIGNED_IN_AT = "signed_in_at"


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
    # The scopes of the API token in use; None for a page session.
    scopes: frozenset[str] | None = None
    # Whether the owner proved they read the address's mail (see ledger.people).
    email_verified: bool = False

    def get_id(self) -> str:
        return f"{self.user_id}:{self.fingerprint}"

    @property
    def needs_two_factor(self) -> bool:
        return bool(self.roles & set(TWO_FACTOR_ROLES))

    @classmethod
    def of(cls, user: User, token: ApiToken | None = None) -> Principal:
        return cls(
            user_id=user.id,
            email=user.person.email,
            full_name=user.person.full_name,
            roles=user.roles,
            totp_enrolled=user.totp_enrolled,
            locale=user.locale,
            fingerprint=people.session_fingerprint(user),
            token_id=token.id if token is not None else None,
            scopes=token.scope_set if token is not None else None,
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


def needs_scope(scope: str) -> Callable[[F], F]:
    """An API route that a token may use only when it holds `scope` (read or money)."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"needs_scope() needs one of {TOKEN_SCOPES}, got {scope!r}")

    def decorate(view: F) -> F:
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return decorate


def scope_of(endpoint: str | None, app: Flask | None = None) -> str | None:
    """The token scope an endpoint declares, or None when it declares none."""
    application = app or current_app
    view = application.view_functions.get(endpoint or "")
    scope = getattr(view, SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, str) else None


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
    ledger = current_ledger()
    now = ledger.clock.now()

    def read(db: Session) -> tuple[Principal, bool] | None:
        found = people.user_for_token(db, token.strip(), now=now)
        if found is None:
            return None
        user, row = found
        return Principal.of(user, token=row), people.token_use_is_stale(row, now)

    found = ledger.read(read)
    if found is None:
        return None
    principal, stale = found
    if stale and principal.token_id is not None:
        _record_token_use(principal.token_id)
    return principal


def _record_token_use(token_id: int) -> None:
    """Write the token's last use in its own transaction, before the request's unit of
    work; a failure (a busy database) is logged and never fails the request."""
    ledger = current_ledger()
    now, address = ledger.clock.now(), client_address()
    try:
        ledger.run(lambda db: people.record_token_use(db, token_id, now=now, address=address))
    except SQLAlchemyError:
        current_app.logger.warning("could not record the use of API token %s", token_id)


def _unauthorized_api(*, token_given: bool = False) -> Unauthorized:
    parameters = {"realm": "api"}
    if token_given:
        parameters["error"] = "invalid_token"
    return Unauthorized(
        "a valid API token is required: Authorization: Bearer <token>"
        + ("; the one sent is unknown, revoked or expired" if token_given else ""),
        www_authenticate=WWWAuthenticate("Bearer", parameters),
    )


def _insufficient_scope(needed: str, granted: frozenset[str]) -> ResponseReturnValue:
    challenge = WWWAuthenticate(
        "Bearer", {"realm": "api", "error": "insufficient_scope", "scope": needed}
    )
    return error_response(
        403,
        "insufficient_scope",
        f"this request needs a token with the scope {needed!r}",
        {"required": needed, "granted": sorted(granted)},
        headers={"WWW-Authenticate": challenge.to_header()},
    )


def _check_scope(endpoint: str, access: Access, principal: Principal) -> ResponseReturnValue | None:
    """Refuse a token that lacks the scope its route declares (no declaration: refuse)."""
    if access.anonymous or principal.scopes is None:
        return None
    needed = scope_of(endpoint)
    if needed is None:
        current_app.logger.error("API route %s declares no token scope; refused", endpoint)
        raise Forbidden("this API route declares no token scope")
    if needed not in principal.scopes:
        return _insufficient_scope(needed, principal.scopes)
    return None


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
            raise _unauthorized_api(token_given=True)
    principal = current_principal()
    if access.admits(principal):
        if is_api_request() and principal is not None:
            return _check_scope(request.endpoint, access, principal)
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
    if not principal.totp_enrolled:
        return redirect(url_for("auth.two_factor_enrol", next=request.full_path.rstrip("?")))
    if not two_factor_confirmed():
        return redirect(url_for("auth.two_factor_verify", next=request.full_path.rstrip("?")))
    return None


def end_old_sign_in() -> None:
    """Sign the session out once its sign-in is older than LEDGER_SESSION_ABSOLUTE_LIFETIME
    (or carries no start time); the language chosen stays."""
    if is_api_request() or not session.get("_user_id"):
        return
    started = session.get(SESSION_SIGNED_IN_AT)
    now = time.time()
    lifetime = int(current_app.config["SESSION_ABSOLUTE_LIFETIME"])
    if isinstance(started, int) and now - started <= lifetime:
        return
    language = session.get(SESSION_LANGUAGE)
    logout_user()
    session.clear()
    if language in LANGUAGES:
        session[SESSION_LANGUAGE] = language


class _SessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions, except that a static file never sets the cookie.

    A permanent session's cookie is sent again with every response (its lifetime
    slides). A stylesheet or an icon requested with the cookie of a moment ago, and
    answered after a request that changed the session (the language just switched,
    a sign-in), would put the old session back in the browser: the next page came
    up in the old language (a browser test caught it on a loaded machine). Static
    files read nothing of the session, so they leave the cookie alone."""

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if has_request_context() and request.endpoint == "static":
            return False
        return super().should_set_cookie(app, session)


def init_access(app: Flask) -> None:
    """Install flask-login, the end of old sign-ins and the access check on `app`."""
    app.session_interface = _SessionInterface()
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.login_view = "auth.login"
    manager.user_loader(_load_principal)
    manager.init_app(app)
    app.before_request(end_old_sign_in)
    app.before_request(enforce_access)
