"""One-time sign-in links: made, found while they still work, and used up.

A link is the step-up offered when an account has had too many wrong
passwords from every network together: rather than refusing the owner, the
sign-in page offers to e-mail them a link that signs in once, until it
expires. The row says whose the link is and whether it still works; the link
itself is signed when its e-mail is built and stored nowhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.people.models import SignInLink, User

# A user is sent at most one new link a minute (the owner asking again a minute
# later always gets one; a stranger cannot fill their mailbox faster).
MIN_INTERVAL = timedelta(minutes=1)


def issue(session: Session, user: User, *, now: datetime, lifetime: timedelta) -> SignInLink | None:
    """A new link for `user`, valid for `lifetime`; None when an unused one was made
    less than MIN_INTERVAL ago (that one is still on its way)."""
    recent = session.scalars(
        select(SignInLink.id).where(
            SignInLink.user_id == user.id,
            SignInLink.used_at.is_(None),
            SignInLink.created_at > now - MIN_INTERVAL,
        )
    ).first()
    if recent is not None:
        return None
    link = SignInLink(user_id=user.id, created_at=now, expires_at=now + lifetime)
    session.add(link)
    session.flush()
    return link


def usable(session: Session, link_id: int, *, now: datetime) -> SignInLink | None:
    """The link with its row locked until the transaction ends (PostgreSQL `FOR
    UPDATE`; SQLite's writer lock already serialises), when it is unused and
    unexpired; else None. Two requests with one link cannot both use it."""
    link = session.scalars(
        select(SignInLink)
        .where(SignInLink.id == link_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link


def use(session: Session, link: SignInLink, *, now: datetime) -> None:
    """Use `link` up, and every other unused link of its user with it."""
    session.execute(
        update(SignInLink)
        .where(SignInLink.user_id == link.user_id, SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    )
