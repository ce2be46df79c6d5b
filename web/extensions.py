"""Flask extensions shared by the blueprints: CSRF, rate limits and translations.

They are created unbound here and bound to the app in `create_app`, so a
blueprint can decorate its views with `limiter.limit(...)` at import time.

Wrong passwords are counted so that nobody can lock an account out:

- per client address, every attempt (LEDGER_RATELIMIT_LOGIN);
- per e-mail address and client network (the /24 of an IPv4 address, the /64
  of an IPv6 one), only refused attempts (LEDGER_RATELIMIT_LOGIN_EMAIL): the
  attacker's network is throttled with 429, the owner's network is not;
- per e-mail address from every network together, a higher ceiling
  (LEDGER_RATELIMIT_LOGIN_ACCOUNT): once reached, the password alone no
  longer signs in, right or wrong, and the page offers the owner a one-time
  sign-in link by e-mail instead (`sign_in_ceiling_reached`).
"""

from __future__ import annotations

import ipaddress

from flask import Response, current_app, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import RateLimitItem, parse_many

csrf = CSRFProtect()
limiter = Limiter(get_remote_address)
babel = Babel()


def login_limit() -> str:
    """Sign-in attempts allowed per client address (LEDGER_RATELIMIT_LOGIN)."""
    return str(current_app.config["RATELIMIT_LOGIN"])


def login_email_limit() -> str:
    """Refused sign-ins allowed per e-mail address and client network."""
    return str(current_app.config["RATELIMIT_LOGIN_EMAIL"])


def register_limit() -> str:
    """Registrations allowed per client address (LEDGER_RATELIMIT_REGISTER)."""
    return str(current_app.config["RATELIMIT_REGISTER"])


def reset_limit() -> str:
    """Password-reset requests allowed per client address."""
    return str(current_app.config["RATELIMIT_RESET"])


def _normalised(email: str) -> str:
    return email.strip().lower()[:254]


def submitted_email() -> str:
    """The rate-limit key of a sign-in by e-mail address (lower-cased)."""
    return "email:" + _normalised(request.form.get("email") or "")


def client_network() -> str:
    """The client's network: the /24 of an IPv4 address, the /64 of an IPv6 one (a
    household, an office or a provider's customer, whose address changes within it)."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def submitted_email_and_network() -> str:
    """The rate-limit key of refused sign-ins: the e-mail address and the client network."""
    return f"{submitted_email()}|net:{client_network()}"


_ACCOUNT_SCOPE = "sign-in-account"


def _account_limits() -> list[RateLimitItem]:
    return list(parse_many(str(current_app.config["RATELIMIT_LOGIN_ACCOUNT"])))


def sign_in_ceiling_reached(email: str) -> bool:
    """Whether refused sign-ins for this address, from every network together, reached
    LEDGER_RATELIMIT_LOGIN_ACCOUNT: then the password alone no longer signs in and the
    owner is offered a one-time link by e-mail (the address need not exist: an unknown
    one behaves the same)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return False
    key = "account:" + _normalised(email)
    return not all(limiter.limiter.test(item, key, _ACCOUNT_SCOPE) for item in _account_limits())


def count_refused_sign_in(email: str) -> None:
    """Count a refused sign-in against the address's ceiling (every network together)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    key = "account:" + _normalised(email)
    for item in _account_limits():
        limiter.limiter.hit(item, key, _ACCOUNT_SCOPE)


def two_factor_limit() -> str:
    """TOTP codes that may be tried per user (LEDGER_RATELIMIT_TWO_FACTOR): with three
    valid codes at any moment out of a million, this keeps guessing hopeless."""
    return str(current_app.config["RATELIMIT_TWO_FACTOR"])


def two_factor_key() -> str:
    """The rate-limit key of a TOTP attempt: the user it is for, from any address."""
    from web.access import SESSION_PENDING_USER, current_principal

    principal = current_principal()
    if principal is not None:
        return f"totp:{principal.user_id}"
    pending = str(session.get(SESSION_PENDING_USER) or "")
    return "totp:" + (pending.partition(":")[0] or get_remote_address())


def failed_sign_in(response: Response) -> bool:
    """Only refused sign-ins count against an e-mail address and network: the owner's
    successful sign-ins are never counted. This alone would let a stranger lock the
    owner out (twenty wrong passwords for the address, and even the right one got 429):
    the count is per client network too, so the stranger throttles only their own
    network, and past the per-account ceiling the owner is offered an e-mailed link
    rather than refused (`sign_in_ceiling_reached`)."""
    return response.status_code != 302


def password_change_limit() -> str:
    """Password changes a signed-in user may attempt (LEDGER_RATELIMIT_PASSWORD_CHANGE):
    a stolen session cannot guess the current password."""
    return str(current_app.config["RATELIMIT_PASSWORD_CHANGE"])


def signed_in_user_key() -> str:
    """The rate-limit key of an act of the signed-in user, from any address."""
    from web.access import current_principal

    principal = current_principal()
    return f"user:{principal.user_id}" if principal is not None else get_remote_address()


def donate_limit() -> str:
    """Card donations a client address may start (LEDGER_RATELIMIT_DONATE): each one
    creates a Checkout Session, so an unbounded form invites card testing."""
    return str(current_app.config["RATELIMIT_DONATE"])
