"""Services on people and users; each takes the caller's session and never commits.

Validation happens before anything is written, so a refused call leaves no
trace. E-mail addresses are stored lower-cased and trimmed; a codice fiscale is
validated with python-stdnum (check character included) and stored compact and
upper-case.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.it import codicefiscale

from ledger.core.sealing import SecretBox
from ledger.people import passwords, totp
from ledger.people.errors import (
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidPersonError,
    InvalidTotpCodeError,
    PersonNotFoundError,
    TokenNotFoundError,
    UserNotFoundError,
    WeakPasswordError,
    WrongPasswordError,
)
from ledger.people.models import (
    LOCALES,
    READ,
    ROLES,
    SELF_REGISTER_ROLES,
    TOKEN_SCOPES,
    ApiToken,
    Person,
    Registration,
    SignInLink,
    User,
    UserRole,
)

TOKEN_PREFIX = "clt_"  # noqa: S105 - a public marker, not a secret
# How long a token lives unless its issuer says otherwise (LEDGER_API_TOKEN_DAYS for the
# pages and the CLI), and the longest it may: a forgotten token stops working by itself.
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366
# A token's last use is written at most this often, so reading is not a write each time.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class NewPerson:
    """What is known of a person at registration."""

    email: str
    full_name: str
    codice_fiscale: str | None = None
    address: str | None = None


def normalise_email(email: str) -> str:
    """Trim and lower-case; refuse what is not shaped like an address."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidPersonError(
            "L'indirizzo e-mail non è valido: scrivilo nella forma nome@dominio.it.",
            field="email",
        )
    return value


def normalise_codice_fiscale(value: str | None) -> str | None:
    """The compact upper-case codice fiscale, or None when blank; invalid ones are refused."""
    if value is None or value.strip() == "":
        return None
    try:
        return str(codicefiscale.validate(value))
    except StdnumValidationError:
        raise InvalidPersonError(
            "Il codice fiscale non è valido: controlla i 16 caratteri (o le 11 cifre per un ente).",
            field="codice_fiscale",
        ) from None


def check_password(password: str) -> None:
    """Refuse passwords shorter than MIN_PASSWORD_LENGTH or absurdly long."""
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"La password deve avere almeno {passwords.MIN_PASSWORD_LENGTH} caratteri.",
            field="password",
            min_length=passwords.MIN_PASSWORD_LENGTH,
        )
    if len(password) > passwords.MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"La password non può superare {passwords.MAX_PASSWORD_LENGTH} caratteri.",
            field="password",
        )


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    """The roles as a set; unknown names and an empty set are refused."""
    chosen = frozenset(roles)
    unknown = sorted(chosen - set(ROLES))
    if unknown:
        raise InvalidPersonError(
            f"Ruolo sconosciuto: {', '.join(unknown)}. Ruoli possibili: {', '.join(ROLES)}.",
            field="roles",
            unknown=unknown,
        )
    if not chosen:
        raise InvalidPersonError("Serve almeno un ruolo.", field="roles")
    return chosen


def clean_name(full_name: str) -> str:
    """A person's name with its spaces collapsed; blank or too long is InvalidPersonError."""
    value = " ".join((full_name or "").split())
    if not value:
        raise InvalidPersonError("Il nome è obbligatorio.", field="full_name")
    if len(value) > _MAX_NAME:
        raise InvalidPersonError(
            f"Il nome non può superare {_MAX_NAME} caratteri.", field="full_name"
        )
    return value


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user whose person has this e-mail (any case), or None."""
    value = (email or "").strip().lower()
    return session.scalars(select(User).join(Person).where(Person.email == value)).one_or_none()


def get_user(session: Session, user_id: int) -> User:
    """The user with this id; UserNotFoundError otherwise."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFoundError(f"nessun utente con id {user_id}", user_id=user_id)
    return user


def list_users(session: Session) -> list[User]:
    """Every user, oldest first (with their person)."""
    return list(session.scalars(select(User).order_by(User.id)))


def get_user_by_email(session: Session, email: str) -> User:
    """The user whose person has this e-mail (any case); UserNotFoundError otherwise."""
    user = find_user_by_email(session, email)
    if user is None:
        raise UserNotFoundError(f"no user with e-mail {(email or '').strip().lower()}")
    return user


def create_user(
    session: Session,
    person: NewPerson,
    *,
    roles: Iterable[str],
    password: str | None,
    now: datetime,
    locale: str = "it",
    email_verified_at: datetime | None = None,
) -> User:
    """Create a person and their user with `roles`; a None password means no sign-in yet.

    The account is unverified (it sees nothing the registry links to its
    address) until its owner follows a link mailed to the address, unless
    `email_verified_at` says when they did (the demo's made-up people).
    """
    email = normalise_email(person.email)
    name = clean_name(person.full_name)
    cf = normalise_codice_fiscale(person.codice_fiscale)
    chosen = check_roles(roles)
    if password is not None:
        check_password(password)
    if locale not in LOCALES:
        raise InvalidPersonError(f"Lingua sconosciuta: {locale}", field="locale")
    if session.scalars(select(Person.id).where(Person.email == email)).first() is not None:
        raise EmailTakenError(
            "Questo indirizzo e-mail è già registrato: accedi o reimposta la password.",
            field="email",
        )
    address = (person.address or "").strip() or None
    row = Person(full_name=name, email=email, codice_fiscale=cf, address=address, created_at=now)
    session.add(row)
    session.flush()
    user = User(
        person_id=row.id,
        password_hash=passwords.hash_password(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        active=True,
        locale=locale,
        created_at=now,
        email_verified_at=email_verified_at,
    )
    user.person = row
    user.role_rows = [UserRole(role=role) for role in sorted(chosen)]
    session.add(user)
    session.flush()
    return user


def set_roles(user: User, roles: Iterable[str]) -> frozenset[str]:
    """Replace the user's roles with `roles` (validated as at creation; at least one)."""
    chosen = check_roles(roles)
    kept = [row for row in user.role_rows if row.role in chosen]
    have = {row.role for row in kept}
    # Kept rows stay the same objects, so a role both removed and re-added in one
    # call cannot produce a delete and an insert of the same primary key.
    user.role_rows = kept + [UserRole(role=role) for role in sorted(chosen - have)]
    return chosen


def deactivate_user(session: Session, user: User, *, now: datetime) -> int | None:
    """Stop the user signing in; revoke their live API tokens and unused sign-in links
    for good (a reactivated account does not get back a token that may have been why
    it was deactivated). How many tokens were revoked; None if already inactive."""
    if not user.active:
        return None
    user.active = False
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in tokens:
        token.revoked_at = now
    for link in session.scalars(
        select(SignInLink).where(SignInLink.user_id == user.id, SignInLink.used_at.is_(None))
    ):
        link.used_at = now
    return len(tokens)


def reactivate_user(user: User) -> bool:
    """Let a deactivated user sign in again (old sessions stay ended); False if active."""
    if user.active:
        return False
    user.active = True
    end_sessions(user)
    return True


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (same cost either way)."""
    user = find_user_by_email(session, email)
    if user is None or not user.active:
        passwords.verify_password(None, password)
        return None
    if not passwords.verify_password(user.password_hash, password):
        return None
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def set_password(user: User, password: str, *, now: datetime) -> None:
    """Replace the password (after a reset or by an operator)."""
    check_password(password)
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now


def change_password(user: User, current: str, new: str, *, now: datetime) -> None:
    """Replace the password after checking the current one."""
    if not passwords.verify_password(user.password_hash, current):
        raise WrongPasswordError("La password attuale non è corretta.", field="current_password")
    set_password(user, new, now=now)


def session_fingerprint(user: User) -> str:
    """What a session cookie carries besides the user id: it changes with the password
    and at every sign-out, so old copies of a cookie stop working."""
    material = f"{user.password_hash or ''}:{user.session_epoch or 0}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def end_sessions(user: User) -> None:
    """End every session of the user (sign-out ends them on all devices)."""
    user.session_epoch = (user.session_epoch or 0) + 1


def lock_user(session: Session, user_id: int) -> User | None:
    """The user with their row locked until the transaction ends (PostgreSQL
    `FOR UPDATE`; SQLite's writer lock already serialises), so two requests cannot
    both use one TOTP code or one reset link."""
    locked = session.execute(select(User.id).where(User.id == user_id).with_for_update()).first()
    if locked is None:
        return None
    return session.get(User, user_id, populate_existing=True)


def password_fingerprint(user: User) -> str:
    """A short digest of the current password hash: a reset link carries it, so the
    link stops working once the password has changed (one use only)."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def reset_link_user(
    session: Session, user_id: int, fingerprint: str, *, lock: bool = False
) -> User | None:
    """The active user a reset link (user id and password fingerprint) still works for.

    With `lock`, the row stays locked until the transaction ends, so two tabs
    posting one link cannot both use it.
    """
    user = lock_user(session, user_id) if lock else session.get(User, user_id)
    if user is None or not user.active or password_fingerprint(user) != fingerprint:
        return None
    return user


# ------------------------------------------------------------------ registration and verification
def start_registration(
    session: Session,
    person: NewPerson,
    *,
    role: str,
    password: str,
    locale: str,
    now: datetime,
    forget_before: datetime | None = None,
) -> Registration | User:
    """A self-registration waiting for its link, or the user who already has the address.

    Everything typed is checked first (a refusal names its field, whatever the
    address). The password is hashed in either case, so a known address costs
    what a new one does; the caller answers the same way to both. Several
    registrations may wait for one address: none occupies it. Registrations
    still waiting from before `forget_before` (their links have expired) are
    forgotten, with the name, codice fiscale and password hash they held.
    """
    email = normalise_email(person.email)
    name = clean_name(person.full_name)
    cf = normalise_codice_fiscale(person.codice_fiscale)
    if role not in SELF_REGISTER_ROLES:
        raise InvalidPersonError(f"Ruolo non disponibile alla registrazione: {role}.", field="role")
    check_password(password)
    if locale not in LOCALES:
        raise InvalidPersonError(f"Lingua sconosciuta: {locale}", field="locale")
    password_hash = passwords.hash_password(password)
    if forget_before is not None:
        session.execute(
            delete(Registration).where(
                Registration.completed_at.is_(None), Registration.created_at < forget_before
            )
        )
    existing = find_user_by_email(session, email)
    if existing is not None:
        return existing
    row = Registration(
        email=email,
        full_name=name,
        codice_fiscale=cf,
        password_hash=password_hash,
        role=role,
        locale=locale,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def pending_registration(
    session: Session, registration_id: int, *, lock: bool = False
) -> Registration | None:
    """The registration a link names, while it waits (None once completed or unknown).

    With `lock`, the row stays locked until the transaction ends, so two tabs
    posting one link cannot both complete it.
    """
    query = select(Registration).where(Registration.id == registration_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None or row.completed_at is not None or row.password_hash is None:
        return None
    return row


def complete_registration(
    session: Session, registration: Registration, password: str, *, now: datetime
) -> User:
    """Make the verified account of a registration whose link was followed.

    The link proves the address's mail is read; the password proves the one
    reading it is the one who registered (so nobody confirms an account made in
    their name by someone else). A wrong password is WrongPasswordError; an
    address that has an account by now is EmailTakenError. A person the registry
    already knows under the address (a donor a treasurer named) becomes the
    account's person, with the name and codice fiscale the owner gave.
    """
    if not passwords.verify_password(registration.password_hash, password):
        raise WrongPasswordError(
            "La password non è quella scelta alla registrazione.", field="password"
        )
    if find_user_by_email(session, registration.email) is not None:
        raise EmailTakenError(
            "Questo indirizzo ha già un account: accedi o reimposta la password.",
            field="email",
        )
    person = session.scalars(select(Person).where(Person.email == registration.email)).one_or_none()
    if person is None:
        person = Person(
            full_name=registration.full_name,
            email=registration.email,
            codice_fiscale=registration.codice_fiscale,
            address=None,
            created_at=now,
        )
        session.add(person)
        session.flush()
    else:
        person.full_name = registration.full_name
        if registration.codice_fiscale is not None:
            person.codice_fiscale = registration.codice_fiscale
    user = User(
        person_id=person.id,
        password_hash=registration.password_hash,
        password_changed_at=now,
        active=True,
        locale=registration.locale,
        created_at=now,
        email_verified_at=now,
    )
    user.person = person
    user.role_rows = [UserRole(role=registration.role)]
    session.add(user)
    session.flush()
    registration.completed_at = now
    registration.user_id = user.id
    registration.password_hash = None
    return user


def verification_fingerprint(user: User) -> str:
    """What a confirmation link carries besides the user id: it changes with the
    address and once the address is verified, so a link works once."""
    material = f"verify:{user.id}:{user.person.email}:{user.email_verified_at or ''}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def verification_link_user(
    session: Session, user_id: int, fingerprint: str, *, lock: bool = False
) -> User | None:
    """The active, unverified user a confirmation link still works for, else None."""
    user = lock_user(session, user_id) if lock else session.get(User, user_id)
    if user is None or not user.active or user.email_verified:
        return None
    if verification_fingerprint(user) != fingerprint:
        return None
    return user


def mark_email_verified(user: User, *, now: datetime) -> bool:
    """Record that the owner reads the address's mail; False if it was known already."""
    if user.email_verified:
        return False
    user.email_verified_at = now
    return True


def verified_person_id(session: Session, user_id: int) -> int | None:
    """The person of an active user whose address is verified, else None: what the
    registry links to an address is theirs to see only then."""
    user = session.get(User, user_id)
    if user is None or not user.active or not user.email_verified:
        return None
    return user.person_id


def get_person(session: Session, person_id: int) -> Person:
    """The person with this id; PersonNotFoundError otherwise."""
    person = session.get(Person, person_id)
    if person is None:
        raise PersonNotFoundError(f"nessuna persona con id {person_id}", person_id=person_id)
    return person


def get_person_by_email(session: Session, email: str) -> Person:
    """The person with this e-mail (any case); PersonNotFoundError otherwise."""
    value = (email or "").strip().lower()
    person = session.scalars(select(Person).where(Person.email == value)).one_or_none()
    if person is None:
        raise PersonNotFoundError(f"no person with e-mail {value}")
    return person


def user_of_person(session: Session, person_id: int) -> User | None:
    return session.scalars(select(User).where(User.person_id == person_id)).one_or_none()


def correct_identity(person: Person, full_name: str, codice_fiscale: str | None) -> list[str]:
    """Set a person's name and codice fiscale (checked as at registration; a blank codice
    fiscale removes it); the names of the fields that changed."""
    name = clean_name(full_name)
    cf = normalise_codice_fiscale(codice_fiscale)
    changed = []
    if name != person.full_name:
        person.full_name = name
        changed.append("full_name")
    if cf != person.codice_fiscale:
        person.codice_fiscale = cf
        changed.append("codice_fiscale")
    return changed


def check_own_identity(user: User | None) -> None:
    """A person corrects their own identity only from a verified account."""
    if user is None or not user.email_verified:
        raise EmailNotVerifiedError(
            "Conferma prima il tuo indirizzo e-mail: segui il link che ti abbiamo mandato."
        )


# ------------------------------------------------------------------ API tokens
def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; unknown names and an empty set are refused."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(TOKEN_SCOPES))
    if unknown or not chosen:
        raise InvalidPersonError(
            f"Ambito del token sconosciuto o mancante: {', '.join(unknown) or '-'}. "
            f"Ambiti possibili: {', '.join(TOKEN_SCOPES)}.",
            field="scopes",
            unknown=unknown,
        )
    return chosen


def check_token_days(days: int) -> int:
    """The lifetime of a new token in days, from 1 to MAX_TOKEN_DAYS."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidPersonError(
            f"La durata del token va da 1 a {MAX_TOKEN_DAYS} giorni.",
            field="days",
            max_days=MAX_TOKEN_DAYS,
        )
    return days


def issue_token(
    session: Session,
    user: User,
    name: str,
    *,
    now: datetime,
    scopes: Iterable[str] = (READ,),
    days: int = DEFAULT_TOKEN_DAYS,
) -> tuple[str, ApiToken]:
    """Create a token for `user` with `scopes`, expiring `days` from `now`.

    The plain token is returned once and never stored. Whether the caller may
    have a `money` token (a TOTP code, an operator) is the use case's business.
    """
    label = " ".join((name or "").split()) or "token"
    if len(label) > 100:
        raise InvalidPersonError("Il nome del token supera 100 caratteri.", field="name")
    chosen = check_scopes(scopes)
    lifetime = check_token_days(days)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=hash_token(token),
        prefix=token[:12],
        created_at=now,
        scopes=" ".join(sorted(chosen)),
        expires_at=now + timedelta(days=lifetime),
    )
    session.add(row)
    session.flush()
    return token, row


def user_for_token(session: Session, token: str, *, now: datetime) -> tuple[User, ApiToken] | None:
    """The active user and live token row for a bearer token at `now`, else None
    (unknown, revoked, expired, or its user deactivated)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    if row is None or not row.live_at(now) or not row.user.active:
        return None
    return row.user, row


def token_use_is_stale(row: ApiToken, now: datetime) -> bool:
    """Whether a use of `row` at `now` should be written (none within the last minute)."""
    return row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION


def record_token_use(
    session: Session, token_id: int, *, now: datetime, address: str | None
) -> bool:
    """Remember that the token was used at `now` from `address`, unless a use within
    the last minute is already written (then nothing is written: False).

    One conditional UPDATE, so concurrent requests of one token write once.
    """
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - TOKEN_USE_RESOLUTION,
            ),
        )
        .values(last_used_at=now, last_used_from=address[:64] if address else None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_token(
    session: Session, token_id: int, *, now: datetime, owner_id: int | None = None
) -> ApiToken:
    """Revoke a token (idempotent: revoking twice keeps the first time).

    With `owner_id`, only a token of that user: another user's token is
    TokenNotFoundError, as if it did not exist.
    """
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise TokenNotFoundError(f"nessun token con id {token_id}", token_id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now
    return row


# ------------------------------------------------------------------ TOTP
# A user's TOTP secret is kept sealed under the keys of a `SecretBox` (LEDGER_TOTP_KEY),
# which every function here that reads or writes one is given by its caller.
def _seal_totp_secret(user: User, secret: str, box: SecretBox) -> None:
    user.totp_secret_sealed = box.seal(secret)
    user.totp_secret_clear = None


def _totp_secret(user: User, box: SecretBox) -> str | None:
    """The user's secret in clear, for this call only; None when there is none.

    A secret sealed under an older key (second or later in the list) is sealed
    again under the first, and one from before sealing (`totp_secret_clear`) is
    sealed now: using a secret moves it to the current key. A token no key
    opens is SecretKeyError (the server's keys are wrong, not the user's code).
    """
    if user.totp_secret_sealed:
        secret = box.open(user.totp_secret_sealed)
        if not box.is_current(user.totp_secret_sealed):
            _seal_totp_secret(user, secret, box)
        return secret
    if user.totp_secret_clear:
        secret = user.totp_secret_clear
        _seal_totp_secret(user, secret, box)
        return secret
    return None


def begin_totp_enrolment(user: User, box: SecretBox) -> str:
    """Give the user a new pending secret (replacing a pending one) and return it.

    The secret is stored sealed; the clear one exists only in this answer (shown
    to the user as text and QR code). An enrolled user keeps their secret:
    re-enrolment is not a way around 2FA.
    """
    if user.totp_enrolled:
        raise InvalidTotpCodeError("L'autenticazione a due fattori è già attiva.")
    secret = totp.new_secret()
    _seal_totp_secret(user, secret, box)
    return secret


def pending_totp_secret(session: Session, user_id: int, box: SecretBox) -> str | None:
    """The secret the user is enrolling (a new one if none is pending), or None once
    enrolled. It lives sealed on the locked user row, not in the readable session
    cookie, and becomes active only when a code made from it is confirmed."""
    user = lock_user(session, user_id)
    if user is None:
        raise UserNotFoundError(f"nessun utente con id {user_id}", user_id=user_id)
    if user.totp_enrolled:
        return None
    return _totp_secret(user, box) or begin_totp_enrolment(user, box)


def confirm_totp_enrolment(user: User, code: str, *, now: datetime, box: SecretBox) -> None:
    """Activate the pending secret once the user proves their app shows the right code."""
    secret = None if user.totp_enrolled else _totp_secret(user, box)
    if secret is None:
        raise InvalidTotpCodeError("Nessuna attivazione in corso: ricomincia dall'inizio.")
    step = totp.matching_step(secret, code, now, None)
    if step is None:
        raise InvalidTotpCodeError(
            "Il codice non è corretto o è scaduto: inserisci le 6 cifre che l'app mostra ora.",
            field="code",
        )
    user.totp_enrolled_at = now
    user.totp_last_step = step


def verify_totp(user: User, code: str, *, now: datetime, box: SecretBox) -> bool:
    """True (and the step is used up) when `code` is valid now for an enrolled user."""
    if not user.totp_enrolled:
        return False
    secret = _totp_secret(user, box)
    if secret is None:
        return False
    step = totp.matching_step(secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def reseal_totp_secrets(session: Session, box: SecretBox) -> int:
    """Seal under the box's first key every TOTP secret that is not: those left in
    clear by migration 0009 and those sealed under an older key. How many changed.

    A token no key opens is SecretKeyError and nothing is changed (the caller's
    unit of work rolls back).
    """
    changed = 0
    query = (
        select(User)
        .where((User.totp_secret_sealed.is_not(None)) | (User.totp_secret_clear.is_not(None)))
        .order_by(User.id)
        .with_for_update(of=User)
    )
    for user in session.scalars(query):
        before = (user.totp_secret_sealed, user.totp_secret_clear)
        _totp_secret(user, box)
        if (user.totp_secret_sealed, user.totp_secret_clear) != before:
            changed += 1
    return changed


def set_locale(user: User, locale: str) -> None:
    """Remember the user's language."""
    if locale not in LOCALES:
        raise InvalidPersonError(f"Lingua sconosciuta: {locale}", field="locale")
    user.locale = locale
