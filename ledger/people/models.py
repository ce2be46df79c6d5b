"""Tables of people and their credentials (created by migration 0002_people; TOTP secrets
sealed at rest since 0009_totp_encrypted)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.core.models import Base, UtcDateTime

ROLES = (
    "donor",
    "proponent",
    "reviewer",
    "treasurer",
    "foundation_officer",
    "admin",
    "project_staff",
    "partner",
)
SELF_REGISTER_ROLES = ("donor", "proponent")
# Roles that can move money (or promise it) through the pages only after enrolling TOTP.
TWO_FACTOR_ROLES = ("treasurer", "foundation_officer", "admin", "project_staff")
LOCALES = ("it", "en")
# What an API token may do: `read` every GET it is admitted to, `money` every request
# that moves money or changes state. A token holds one or both.
READ = "read"
MONEY = "money"
TOKEN_SCOPES = (READ, MONEY)


class Person(Base):
    """Someone the programme knows: the one record of a person's identity. (A gift keeps
    the donor as the treasurer typed them, and a receipt the donor it printed.)"""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Stored lower-cased, so uniqueness and sign-in ignore case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    codice_fiscale: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When an admin erased the person (migration 0023_privacy): name, e-mail,
    # codice fiscale and address were replaced then (ledger.privacy).
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class User(Base):
    """A person who can sign in, with roles and credentials."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("locale IN ('it','en')", name="locale"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(String(2), default="it")
    # The TOTP secret, sealed (`ledger.core.sealing`) under LEDGER_TOTP_KEY: a copy of
    # the table gives nobody the codes. Set at the start of enrolment, active once
    # `totp_enrolled_at` is.
    totp_secret_sealed: Mapped[str | None] = mapped_column(String(255))
    # A secret enrolled before migration 0009 and not sealed yet (the migration had
    # no key): sealed, and this emptied, at its next use or by `ledger users
    # reseal-totp`. Nothing writes a secret here any more.
    totp_secret_clear: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The last 30-second step whose code was accepted: a code is accepted once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Part of every session's identity: signing out bumps it, which ends every
    # copy of the user's session cookie, not only the browser's own.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the owner proved they read the address's mail (migration 0011): until
    # then the account sees nothing the registry links to the address.
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    person: Mapped[Person] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(row.role for row in self.role_rows)

    @property
    def email(self) -> str:
        return self.person.email

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_enrolled_at is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint(
            "role IN ('donor','proponent','reviewer','treasurer','foundation_officer','admin',"
            "'project_staff','partner')",
            name="role",
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Registration(Base):
    """A self-registration waiting for its link (migration 0011): not an account yet.

    It holds no address of `persons`, so registering someone else's address
    occupies nothing: several may wait for one address, and only the one whose
    link is followed, with the password chosen, becomes an account.
    """

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    codice_fiscale: Mapped[str | None] = mapped_column(String(16))
    # Cleared once completed: the user's row holds it then.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApiToken(Base):
    """A bearer credential for the JSON API; the token itself is never stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scopes IN ('read','money','money read')", name="scopes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the whole token, hex: a token is 256 random bits, so a fast hash
    # is enough (nothing to brute-force) and lookups stay a single index probe.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so an operator can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The scopes, sorted and separated by a space ("money read"), as OAuth writes them.
    scopes: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When and from which address the token was last used, to the minute: written
    # at most once a minute per token, outside the request's own unit of work.
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_from: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def live_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and now < self.expires_at

    def status_at(self, now: datetime) -> str:
        """`live`, `revoked` or `expired` at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        return "live" if now < self.expires_at else "expired"


class SignInLink(Base):
    """A one-time sign-in link sent by e-mail (created by migration 0010_sign_in_links).

    The step-up offered past the ceiling of wrong passwords for an account: it
    works once, until `expires_at`. The link is signed with the secret key when
    its e-mail is built and is stored nowhere; the row only says whose it is
    and whether it still works.
    """

    __tablename__ = "sign_in_links"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="expiry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
