"""`ledger worker`, the job runs page and the e-mail to admins when a job keeps failing."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import text

from ledger.commands import Origin
from ledger.core.sealing import DEVELOPMENT_KEY
from ledger.jobs.registry import Job, JobContext
from ledger.jobs.runner import run_job
from ledger.jobs.runs import recent_runs
from ledger.people import totp
from tests.web.conftest import make_user, sign_in, totp_code
from web.cli import cli
from web.outbox import flush_outbox

CLI_ENV = {
    "LEDGER_MAIL_SENDER": "log",
    "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_test_worker",
    "LEDGER_TOTP_KEY": DEVELOPMENT_KEY,
}


def failing(ctx: JobContext) -> dict[str, int]:
    raise RuntimeError("bank unreachable")


def test_ledger_worker_once_runs_every_due_job_then_nothing_until_they_are_due(ledger, db_url):
    result = CliRunner().invoke(cli, ["--database", db_url, "worker", "--once"], env=CLI_ENV)
    assert result.exit_code == 0, result.output
    for name in ("campaigns_close_due", "holds_expire", "bank_match", "audit_retention", "outbox"):
        assert f"{name}: succeeded" in result.output
    assert "stripe_sync" not in result.output  # no Stripe key: not scheduled

    again = CliRunner().invoke(cli, ["--database", db_url, "worker", "--once"], env=CLI_ENV)
    assert again.exit_code == 0, again.output
    assert "outbox: not due" in again.output

    forced = CliRunner().invoke(
        cli, ["--database", db_url, "worker", "--once", "--job", "outbox"], env=CLI_ENV
    )
    assert forced.exit_code == 0 and "outbox: succeeded" in forced.output
    listed = CliRunner().invoke(cli, ["--database", db_url, "jobs", "runs"], env=CLI_ENV)
    assert listed.exit_code == 0
    assert listed.output.count("outbox") == 2 and listed.output.count("holds_expire") == 1


def test_ledger_worker_refuses_an_unknown_job(db_url):
    result = CliRunner().invoke(
        cli, ["--database", db_url, "worker", "--once", "--job", "nope"], env=CLI_ENV
    )
    assert result.exit_code == 2 and "unknown job nope" in result.output


def test_an_admin_reads_the_job_runs_and_the_stale_jobs(client, ledger, clock):
    secret = totp.new_secret()
    make_user(ledger, "admin@example.org", ["admin"], totp_secret=secret)
    ctx = JobContext(ledger=ledger, origin=Origin.command_line(), settings={"JOB_RETRIES": 0})
    run_job(ctx, Job("bank_match", timedelta(minutes=10), failing))
    clock.instant += timedelta(minutes=21)
    sign_in(client, "admin@example.org", code=totp_code(ledger, secret))

    page = client.get("/admin/lavori")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<code>bank_match</code>" in html
    assert "RuntimeError: bank unreachable" in html
    assert "fallito" in html
    assert "non riescono da più del doppio" in html


def test_after_n_failures_each_admin_is_emailed_a_link_to_the_job_runs(app, ledger):
    make_user(ledger, "admin@example.org", ["admin"])
    make_user(ledger, "anna@example.org", ["donor"])
    ctx = JobContext(
        ledger=ledger,
        origin=Origin.command_line(),
        settings={"JOB_RETRIES": 0, "JOB_ALERT_AFTER": 2},
    )
    job = Job("holds_expire", timedelta(minutes=5), failing)
    run_job(ctx, job)
    run_job(ctx, job)
    with app.app_context():
        sent, failed = flush_outbox()
    assert (sent, failed) == (1, 0)
    [mail] = app.extensions["sent_mail"]
    assert mail.to == "admin@example.org"
    assert "holds_expire" in mail.subject
    assert "fallito 2 volte di seguito" in mail.body
    assert "RuntimeError: bank unreachable" in mail.body
    assert "/admin/lavori" in mail.body
    payload = ledger.read(lambda s: s.execute(text("SELECT payload FROM outbox_messages")).one())
    assert "admin@example.org" not in str(payload)
    assert len(ledger.read(recent_runs)) == 2
