"""Health endpoints for load balancers, monitors and the production server's checks.

`/healthz` answers whether the process is alive: it touches no database, so a
database outage never makes a load balancer restart healthy web workers.
`/readyz` answers whether this instance can serve: a list of named checks
(`READINESS_CHECKS`), each giving `ok` and a short `detail` without secrets or
personal data; 200 when every check passes, 503 otherwise, as
`{"status": "ok"|"unavailable", "checks": [{"name", "ok", "detail"}]}`; the
`detail` only for a request from this machine (127.0.0.1 or ::1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ledger.core.migrate import applied_revisions, head_revisions
from ledger.core.service import Ledger
from ledger.jobs.runs import stale_jobs
from web.access import public
from web.db import current_ledger, ping

bp = Blueprint("health", __name__)
# Who sees each check's detail on /readyz: a monitor on this machine.
LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check's answer."""

    name: str
    ok: bool
    detail: str


def database_reachable(ledger: Ledger) -> Check:
    """The database answers `SELECT 1`."""
    try:
        ping(ledger.engine)
    except Exception as exc:  # any failure to answer means "not ready", never a 500
        current_app.logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return Check("database", False, f"unreachable ({type(exc).__name__})")
    return Check("database", True, "reachable")


def migrations_at_head(ledger: Ledger) -> Check:
    """The database is at the newest revision of `migrations/` (`ledger db upgrade` ran)."""
    try:
        applied = applied_revisions(ledger.engine)
    except Exception as exc:
        return Check("migrations", False, f"unknown ({type(exc).__name__})")
    heads = head_revisions()
    if applied == heads:
        return Check("migrations", True, "at " + ", ".join(sorted(heads)))
    shown = ", ".join(sorted(applied)) or "none"
    return Check(
        "migrations",
        False,
        f"at {shown}, expected {', '.join(sorted(heads))} (run `ledger db upgrade`)",
    )


def job_runs_recent(ledger: Ledger) -> Check:
    """No periodic job's last successful run is older than twice its interval
    (`ledger.jobs.runs.stale_jobs`); a worker that never ran names no job."""
    try:
        with ledger.sessions() as db:
            stale = stale_jobs(db, ledger.clock.now())
    except Exception as exc:
        return Check("jobs", False, f"unknown ({type(exc).__name__})")
    if stale:
        return Check("jobs", False, "stale: " + ", ".join(stale))
    return Check("jobs", True, "recent")


# The checks of /readyz, in order; a later check runs only when the database is reachable.
READINESS_CHECKS: list[Callable[[Ledger], Check]] = [
    migrations_at_head,
    job_runs_recent,
]


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Alive: the process answers requests. No database is touched."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@public
def readyz() -> ResponseReturnValue:
    """Ready: the database answers and every readiness check passes (else 503)."""
    ledger = current_ledger()
    checks = [database_reachable(ledger)]
    if checks[0].ok:
        checks.extend(check(ledger) for check in READINESS_CHECKS)
    ready = all(check.ok for check in checks)
    # The details (the schema's revisions, stale jobs' names, exception classes) are for
    # a monitor on this machine; anyone else learns which check fails, not why
    # (security review, 2026-12-07).
    # Behind a proxy on this machine every request comes from 127.0.0.1: a forwarded
    # one is someone else's.
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    local = request.remote_addr in LOCAL_ADDRESSES and not forwarded
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": [
            {"name": c.name, "ok": c.ok, **({"detail": c.detail} if local else {})} for c in checks
        ],
    }
    return jsonify(body), 200 if ready else 503
