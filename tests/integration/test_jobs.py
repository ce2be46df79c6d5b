"""The job runner (ledger.jobs): one run at a time across workers, every attempt recorded,
failures retried with back-off and e-mailed to the admins after N in a row."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, text

from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.jobs.models import JobRun
from ledger.jobs.registry import Job, JobContext, JobFailed, domain_jobs
from ledger.jobs.runner import JOB_FAILURES_MESSAGE, backoff, run_job, run_with_retries
from ledger.jobs.runs import recent_runs, stale_jobs
from ledger.jobs.scheduler import run_due_once
from ledger.outbox.models import OutboxMessage
from ledger.people.service import NewPerson, create_user

SETTINGS = {"JOB_RETRIES": 2, "JOB_RETRY_BACKOFF": 30, "JOB_ALERT_AFTER": 3}


def context(ledger: Ledger, **settings: int) -> JobContext:
    return JobContext(
        ledger=ledger, origin=Origin.command_line(), settings={**SETTINGS, **settings}
    )


def runs_of(ledger: Ledger, job: str | None = None) -> list[tuple[str, str, int]]:
    return [
        (r.job, r.outcome, r.attempt)
        for r in reversed(ledger.read(lambda s: recent_runs(s, job=job)))
    ]


def make_admin(ledger: Ledger, email: str) -> int:
    return ledger.run(
        lambda s: (
            create_user(
                s,
                NewPerson(email=email, full_name="Ada Admin"),
                roles=["admin"],
                password=None,
                now=ledger.clock.now(),
            ).id
        )
    )


def alerts(ledger: Ledger) -> list[dict]:
    return ledger.read(
        lambda s: [
            m.payload
            for m in s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == JOB_FAILURES_MESSAGE)
            )
        ]
    )


def test_once_runs_every_due_job_and_records_each_run(ledger, clock: FixedClock):
    jobs = domain_jobs({})
    done = run_due_once(context(ledger), jobs)

    assert sorted(done) == ["audit_retention", "bank_match", "campaigns_close_due", "holds_expire"]
    assert all(len(attempts) == 1 and attempts[0].succeeded for attempts in done.values())
    rows = list(reversed(ledger.read(recent_runs)))
    assert [(r.job, r.outcome) for r in rows] == [
        ("campaigns_close_due", "succeeded"),
        ("holds_expire", "succeeded"),
        ("bank_match", "succeeded"),
        ("audit_retention", "succeeded"),
    ]
    assert rows[0].counts == {"due": 0, "closed": 0, "refunds_requested": 0}
    assert rows[1].counts == {"expired": 0}
    assert all(r.finished_at is not None and r.error is None for r in rows)


def test_once_skips_a_job_until_its_interval_has_passed(ledger, clock: FixedClock):
    jobs = domain_jobs({"JOB_HOLDS_EXPIRE_INTERVAL": 600})
    run_due_once(context(ledger), jobs)

    clock.instant += timedelta(seconds=599)
    again = run_due_once(context(ledger), jobs)
    assert all(attempts == [] for attempts in again.values())

    clock.instant += timedelta(seconds=1)
    later = run_due_once(context(ledger), jobs)
    assert [name for name, attempts in later.items() if attempts] == ["holds_expire"]
    assert len(runs_of(ledger, "holds_expire")) == 2


def test_a_failing_job_is_retried_with_back_off_and_each_attempt_is_recorded(ledger):
    calls: list[int] = []

    def flaky(ctx: JobContext) -> dict[str, int]:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("the mail server at smtp.example.org refused bruno@example.org")
        return {"sent": 4}

    waits: list[float] = []
    job = Job("flaky", timedelta(minutes=5), flaky)
    attempts = run_with_retries(context(ledger), job, sleep=waits.append)

    assert [a.succeeded for a in attempts] == [False, False, True]
    assert waits == [30.0, 60.0]
    assert runs_of(ledger, "flaky") == [
        ("flaky", "failed", 1),
        ("flaky", "failed", 2),
        ("flaky", "succeeded", 3),
    ]
    errors = [r.error for r in ledger.read(lambda s: recent_runs(s, job="flaky"))]
    assert "RuntimeError: the mail server at smtp.example.org refused <address>" in errors
    assert not any("bruno@" in (e or "") for e in errors)


def test_a_database_error_in_a_job_keeps_no_values_on_the_run(ledger):
    """The attack of the security review (2026-12-07): a job that failed on the
    database kept SQLAlchemy's message, with the statement's parameters (and on
    PostgreSQL a DETAIL with the values), on the run the admin page shows and the
    alert e-mail sends: a person's name and codice fiscale among them."""
    secret_name, secret_cf = "Bruno Bianchi", "BNCBRN80A01G388X"

    def clumsy(ctx: JobContext) -> dict[str, int]:
        def insert_twice(session):  # type: ignore[no-untyped-def]
            for _ in range(2):
                session.execute(
                    text(
                        "INSERT INTO persons (id, full_name, email, codice_fiscale, created_at) "
                        "VALUES (424242, :n, 'bruno@example.org', :cf, CURRENT_TIMESTAMP)"
                    ),
                    {"n": secret_name, "cf": secret_cf},
                )

        ledger.run(insert_twice)
        return {}

    job = Job("clumsy", timedelta(minutes=5), clumsy)
    run_job(context(ledger), job)
    [run] = ledger.read(lambda s: recent_runs(s, job="clumsy"))
    assert run.error is not None and run.error.startswith("IntegrityError (")
    assert secret_name not in run.error and secret_cf not in run.error
    assert "INSERT" not in run.error


def test_a_statement_refused_before_the_database_keeps_no_values_on_the_run(ledger):
    """The review's follow-up: an error raised while binding a statement's parameters
    (a naive timestamp) is a StatementError, not a DBAPIError, and its text holds the
    statement and every parameter."""
    from datetime import datetime

    from ledger.people.models import Person

    secret_name, secret_cf = "Carla Verdi", "VRDCRL80A41G388X"

    def naive(ctx: JobContext) -> dict[str, int]:
        def insert(session):  # type: ignore[no-untyped-def]
            session.execute(
                Person.__table__.insert().values(
                    full_name=secret_name,
                    email="carla@example.org",
                    codice_fiscale=secret_cf,
                    created_at=datetime(2026, 1, 1),
                )
            )

        ledger.run(insert)
        return {}

    run_job(context(ledger), Job("naive", timedelta(minutes=5), naive))
    [run] = ledger.read(lambda s: recent_runs(s, job="naive"))
    assert run.error is not None and run.error.startswith("StatementError (ValueError)")
    assert secret_name not in run.error and secret_cf not in run.error


def test_back_off_doubles_and_never_exceeds_the_jobs_interval():
    job = Job("j", timedelta(seconds=100), lambda ctx: {})
    assert [backoff({"JOB_RETRY_BACKOFF": 30}, job, n) for n in (1, 2, 3, 4)] == [
        30.0,
        60.0,
        100.0,
        100.0,
    ]


def test_the_admins_are_emailed_once_when_a_job_fails_n_times_in_a_row(ledger):
    first = make_admin(ledger, "ada@example.org")
    second = make_admin(ledger, "bea@example.org")

    def broken(ctx: JobContext) -> dict[str, int]:
        raise JobFailed(["campaign 7: campaign_not_found"], {"closed": 1})

    job = Job("broken", timedelta(minutes=5), broken)
    ctx = context(ledger, JOB_RETRIES=1)
    run_with_retries(ctx, job, sleep=lambda s: None)  # failures 1 and 2
    assert alerts(ledger) == []

    run_with_retries(ctx, job, sleep=lambda s: None)  # failures 3 (alert) and 4
    sent = alerts(ledger)
    assert sorted(p["user_id"] for p in sent) == [first, second]
    assert {p["job"] for p in sent} == {"broken"} and {p["failures"] for p in sent} == {3}
    rows = ledger.read(lambda s: recent_runs(s, job="broken"))
    assert len(rows) == 4 and all(r.counts == {"closed": 1} for r in rows)
    assert rows[0].error == "campaign 7: campaign_not_found"


def test_a_success_ends_the_streak_of_failures(ledger, clock: FixedClock):
    make_admin(ledger, "ada@example.org")
    state = {"fail": True}

    def sometimes(ctx: JobContext) -> dict[str, int]:
        if state["fail"]:
            raise RuntimeError("down")
        return {}

    job = Job("sometimes", timedelta(minutes=5), sometimes)
    ctx = context(ledger, JOB_RETRIES=0)
    run_job(ctx, job)
    run_job(ctx, job)
    state["fail"] = False
    run_job(ctx, job)
    state["fail"] = True
    clock.instant += timedelta(minutes=5)
    run_job(ctx, job)
    run_job(ctx, job)
    assert alerts(ledger) == []  # never three failures in a row
    run_job(ctx, job)
    assert len(alerts(ledger)) == 1


def test_two_workers_started_together_run_each_job_once(db_url, clock: FixedClock):
    """Two processes' worth of workers: separate Ledgers (engines, connections), started
    at one barrier, each running every due job; the jobs overlap in time."""
    calls: dict[str, int] = {"slow": 0, "quick": 0}
    lock = threading.Lock()

    def counting(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run(ctx: JobContext) -> dict[str, int]:
            with lock:
                calls[name] += 1
            time.sleep(seconds)
            return {"n": 1}

        return run

    jobs = [
        Job("slow", timedelta(minutes=5), counting("slow", 0.5)),
        Job("quick", timedelta(minutes=5), counting("quick", 0.05)),
    ]
    ledgers = [
        Ledger.from_url(db_url, clock=clock, secret_box=SecretBox.development()) for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    results: list[dict] = []
    failures: list[BaseException] = []

    def worker(ledger: Ledger) -> None:
        try:
            barrier.wait()
            results.append(run_due_once(context(ledger), jobs))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(each,)) for each in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        assert calls == {"slow": 1, "quick": 1}
        counted = ledgers[0].read(
            lambda s: dict(s.execute(select(JobRun.job, func.count()).group_by(JobRun.job)).all())
        )
        assert counted == {"slow": 1, "quick": 1}
        ran = sorted(name for r in results for name, attempts in r.items() if attempts)
        assert ran == ["quick", "slow"]
    finally:
        for each in ledgers:
            each.engine.dispose()


def test_a_run_left_running_by_a_dead_worker_is_marked_abandoned(ledger, clock: FixedClock):
    job = Job("j", timedelta(minutes=5), lambda ctx: {})
    ledger.run(
        lambda s: s.execute(
            text(
                "INSERT INTO job_runs (job, started_at, outcome, attempt, interval_seconds,"
                " counts) VALUES ('j', :t, 'running', 1, 300, '{}')"
            ),
            {"t": clock.now() - timedelta(hours=2)},
        )
    )
    assert run_job(context(ledger), job).succeeded
    assert [o for _, o, _ in runs_of(ledger, "j")] == ["abandoned", "succeeded"]


def test_stale_jobs_are_those_whose_last_success_is_older_than_twice_their_interval(
    ledger, clock: FixedClock
):
    ok = Job("ok", timedelta(minutes=10), lambda ctx: {})
    failing = Job("failing", timedelta(minutes=10), lambda ctx: 1 / 0)
    ctx = context(ledger, JOB_RETRIES=0)
    run_job(ctx, ok)
    run_job(ctx, failing)
    assert ledger.read(lambda s: stale_jobs(s, clock.now())) == []

    clock.instant += timedelta(minutes=20, seconds=1)
    run_job(ctx, failing)
    assert ledger.read(lambda s: stale_jobs(s, clock.now())) == ["failing", "ok"]
    run_job(ctx, ok)
    assert ledger.read(lambda s: stale_jobs(s, clock.now())) == ["failing"]


def test_the_scheduler_runs_each_job_at_start_and_records_it(ledger):
    from ledger.jobs.scheduler import scheduler

    ran = threading.Event()
    jobs = [*domain_jobs({}), Job("last", timedelta(hours=1), lambda ctx: ran.set() or {})]
    blocking = scheduler(context(ledger), jobs)
    thread = threading.Thread(target=blocking.start)
    thread.start()
    try:
        assert ran.wait(30)
        deadline = time.monotonic() + 30
        while len(runs_of(ledger)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        blocking.shutdown(wait=True)
        thread.join(30)
    assert sorted((j, o) for j, o, _ in runs_of(ledger)) == [
        ("audit_retention", "succeeded"),
        ("bank_match", "succeeded"),
        ("campaigns_close_due", "succeeded"),
        ("holds_expire", "succeeded"),
        ("last", "succeeded"),
    ]
