"""Commands declared once: each use case's audit action name and subject type.

A use case module declares its command at module level
(`RECORD_REPAYMENT = command("loan.repayment", "loan")`); the name is then used
by nothing else, so a page, the API and the CLI cannot audit the same act under
two names. Declaring one action twice is an error at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

_DECLARED: dict[str, Command] = {}


@dataclass(frozen=True, slots=True)
class Command:
    """An act's audit action (`loan.repayment`) and the type of its subject (`loan`).

    An act with no subject of its own (signing in or out: the actor is all there
    is) declares none, and its events carry no subject.
    """

    action: str
    subject: str | None


def command(action: str, subject: str | None) -> Command:
    """Declare the command `action` about a `subject`; each action is declared once."""
    if action in _DECLARED:
        raise ValueError(f"the command {action!r} is already declared")
    if len(action) > 64 or len(subject or "") > 32:
        raise ValueError(f"the command {action!r} has a name too long for the audit log")
    declared_command = Command(action=action, subject=subject)
    _DECLARED[action] = declared_command
    return declared_command


def declared() -> dict[str, Command]:
    """Every command declared so far, by action name (for documentation and tests)."""
    return dict(_DECLARED)
