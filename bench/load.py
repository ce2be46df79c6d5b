"""A load test through the production server (issue 16, part 7).

`ledger serve --production` (gunicorn, threaded workers) runs on a throwaway
PostgreSQL database at 2 and then 4 worker processes. For each round a campaign
gets `gifts` card gifts paid at the local fake Stripe (tests/fakes/stripe_server.py,
in this process: the webhook handler fetches each payment's facts from it, as it
does from Stripe). A bounded local script then sends, from CLIENTS threads with
http.client on kept-alive connections:

- every gift's `checkout.session.completed` webhook TWICE (Stripe redelivers;
  the order is shuffled, so a copy can race its twin), each signed the way
  Stripe signs (`Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t.body">`)
  just before it is sent;
- `gifts` views of the campaign's public page, interleaved.

Before that mix, the same clients send `gifts` requests to /healthz (no
database): the baseline of a request through this server on this machine.

It prints webhooks/s and page views/s over the round's wall time, p50/p99 of
each, the answers by status and outcome; then checks that nothing was lost or
doubled (every gift settled once, one journal entry per gift, the escrow and
fee accounts equal to the gifts' sums, Stripe events applied once each) and
that `verify` passes. The fake Stripe and the client threads share the machine
with gunicorn: the figures are of the whole, on a loaded machine.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ledger.audit.service import Origin
from ledger.campaigns import accounts
from ledger.campaigns.models import Donation, StripeEvent
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.models import JournalEntry
from ledger.core.money import Money
from ledger.core.sealing import new_key
from ledger.core.service import Ledger
from tests.fakes.stripe_server import FakeStripe

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
AMOUNT_MINOR = 2500
FEE_MINOR = 60
API_KEY = "sk_test_bench_load"
WEBHOOK_SECRET = "whsec_bench_" + os.urandom(8).hex()


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The header Stripe sends: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def open_campaign(ledger: Ledger, round_name: str) -> int:
    def work(session: Any) -> int:
        now = ledger.clock.now()
        org = create_organisation(
            session,
            name=f"Associazione di prova {round_name}",
            tax_code="97123450153",
            qualification="ODV",
            now=now,
        )
        campaign = create_campaign(
            session,
            NewCampaign(
                organisation_id=org.id,
                title=f"Campagna di carico {round_name}",
                description_md="Una campagna per misurare il server.",
                goal_minor=10**9,
                currency="EUR",
                deadline_at=now + timedelta(days=30),
                funding_model="keep_what_you_raise",
            ),
            clock=ledger.clock,
        )
        publish_campaign(session, campaign.id, clock=ledger.clock)
        return int(campaign.id)

    return ledger.run(work)


def paid_gifts(
    url: str, fake: FakeStripe, settings: dict[str, str], campaign: int, n: int
) -> list[str]:
    """`n` card gifts started as the donation form starts them and paid at the fake:
    their Checkout Session ids (webhooks not delivered yet)."""
    from web import create_app
    from web.campaigns.payments import begin_checkout

    app = create_app({**settings, "DATABASE_URL": url})
    sessions: list[str] = []
    try:
        for i in range(n):
            with app.test_request_context():
                started = begin_checkout(
                    campaign,
                    Money(AMOUNT_MINOR, "EUR"),
                    person_id=None,
                    anonymous=True,
                    request_key=f"load-{campaign}-{i}",
                    success_url="https://registro.example.org/grazie",
                    cancel_url="https://registro.example.org/campagne",
                    origin=Origin.command_line(),
                )
            ledger: Ledger = app.extensions["ledger"]
            session_id = ledger.read(
                lambda s, d=started.donation_id: s.get(Donation, d).stripe_session_id
            )
            fake.pay(session_id, fee_minor=FEE_MINOR)
            sessions.append(session_id)
    finally:
        app.extensions["ledger"].engine.dispose()
    return sessions


class Server:
    """`ledger serve --production` in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--production"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server stopped:\n" + self.log.read_text())
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)] if ordered else 0.0


def drive(
    port: int, tasks: list[tuple[str, Any]]
) -> tuple[float, dict[str, list[float]], Counter[str]]:
    """Send every task from CLIENTS threads; (seconds, latencies by kind, answers)."""
    lock = threading.Lock()
    queue = list(reversed(tasks))
    latencies: dict[str, list[float]] = {"webhook": [], "page": [], "healthz": []}
    answers: Counter[str] = Counter()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                kind, payload = queue.pop()
            started = time.perf_counter()
            try:
                if kind == "webhook":
                    body = payload
                    headers = {
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": stripe_signature(
                            body, WEBHOOK_SECRET, int(time.time())
                        ),
                    }
                    connection.request("POST", "/webhooks/stripe", body=body, headers=headers)
                else:
                    connection.request("GET", payload)
                response = connection.getresponse()
                data = response.read()
                label = f"{kind} {response.status}"
                if kind == "webhook" and response.status == 200:
                    label += " " + json.loads(data).get("outcome", "?")
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                label = f"{kind} error {type(exc).__name__}"
            elapsed = time.perf_counter() - started
            with lock:
                latencies[kind].append(elapsed)
                answers[label] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0, latencies, answers


def books_after(ledger: Ledger, campaign: int, sessions: list[str]) -> dict[str, Any]:
    def read(s: Any) -> dict[str, Any]:
        statuses = Counter(
            s.scalars(select(Donation.status).where(Donation.campaign_id == campaign)).all()
        )
        events = Counter(
            s.scalars(
                select(StripeEvent.outcome).where(StripeEvent.type == "checkout.session.completed")
            ).all()
        )
        return {"statuses": statuses, "events": events}

    found = ledger.read(read)
    found["escrow"] = ledger.balance(accounts.escrow(campaign)).posted
    found["entries"] = ledger.read(
        lambda s: s.scalar(select(func.count()).select_from(JournalEntry))
    )
    return found


def forget_limits(settings: dict[str, Any]) -> None:
    """Remove this run's rate-limit keys from the shared store."""
    import redis

    store = redis.Redis.from_url(settings["RATELIMIT_STORAGE_URI"])
    for key in store.scan_iter(match=f"*{settings['RATELIMIT_KEY_PREFIX']}*"):
        store.delete(key)
    store.close()


def bench_load(
    url: str, out: Callable[[str], None], *, gifts: int, workers: tuple[int, ...] = (2, 4)
) -> None:
    if make_url(url).get_backend_name() != "postgresql":
        out("  PostgreSQL only (gunicorn's workers are processes; SQLite has one writer): skipped")
        return
    ledger = Ledger.from_url(url)
    with FakeStripe() as fake:
        settings = {
            "SECRET_KEY": os.urandom(24).hex(),
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_API_BASE": fake.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_KEY_PREFIX": "bench-load-",
            "TOTP_KEY": new_key(),
            "MAIL_SENDER": "log",
            # Several workers need a shared rate-limit store (the server refuses memory://);
            # Redis on this machine, keys under a prefix of this run, removed after it.
            "RATELIMIT_STORAGE_URI": os.environ.get(
                "LEDGER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"
            ),
            "RATELIMIT_KEY_PREFIX": f"ledger-bench-load-{os.getpid()}",
        }
        for count in workers:
            round_name = f"w{count}"
            campaign = open_campaign(ledger, round_name)
            sessions = paid_gifts(url, fake, settings, campaign, gifts)
            events = [
                json.dumps(fake.checkout_completed_event(s), indent=2).encode() for s in sessions
            ]
            tasks: list[tuple[str, Any]] = [("webhook", e) for e in events * 2]
            tasks += [("page", f"/campagne/{campaign}") for _ in range(gifts)]
            random.Random(count).shuffle(tasks)
            before = books_after(ledger, campaign, sessions)

            port = free_port()
            env = {
                **os.environ,
                **{f"LEDGER_{k}": str(v) for k, v in settings.items()},
                "LEDGER_DATABASE_URL": url,
                "LEDGER_SERVER_BIND": f"127.0.0.1:{port}",
                "LEDGER_SERVER_WORKERS": str(count),
                "LEDGER_SERVER_THREADS": "4",
                "LEDGER_SERVER_ACCESS_LOG": "off",
                "PYTHONPATH": str(ROOT),
            }
            log = (
                Path(os.environ.get("TMPDIR", "/tmp"))
                / f"ledger-bench-load-{os.getpid()}-{count}.log"
            )
            server = Server(env, log)
            try:
                server.wait_ready(port)
                # The baseline: the same server, clients and connections on /healthz,
                # which touches no database: the floor of a request on this machine.
                floor_seconds, floor, _floor_answers = drive(
                    port, [("healthz", "/healthz")] * gifts
                )
                seconds, latencies, answers = drive(port, tasks)
            finally:
                server.stop()
                log.unlink(missing_ok=True)
                forget_limits(settings)

            after = books_after(ledger, campaign, sessions)
            hooks, pages = latencies["webhook"], latencies["page"]
            out(
                f"  gunicorn {count} workers x 4 threads, {CLIENTS} clients: "
                f"{len(hooks) / seconds:,.1f} webhooks/s ({len(hooks)} deliveries of {gifts} "
                f"events, each twice) and {len(pages) / seconds:,.1f} page views/s "
                f"in {seconds:.1f} s"
            )
            out(
                f"    webhook p50 {statistics.median(hooks) * 1000:.0f} ms, p99 "
                f"{percentile(hooks, 0.99) * 1000:.0f} ms; page p50 "
                f"{statistics.median(pages) * 1000:.0f} ms, "
                f"p99 {percentile(pages, 0.99) * 1000:.0f} ms"
            )
            out(
                f"    baseline /healthz (no database), same clients: "
                f"{len(floor['healthz']) / floor_seconds:,.1f} requests/s, "
                f"p50 {statistics.median(floor['healthz']) * 1000:.0f} ms, "
                f"p99 {percentile(floor['healthz'], 0.99) * 1000:.0f} ms"
            )
            out("    answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
            settled = after["statuses"].get("settled", 0)
            applied = after["events"].get("applied", 0) - before["events"].get("applied", 0)
            new_entries = after["entries"] - before["entries"]
            escrow = after["escrow"] - before["escrow"]
            sound = (
                settled == gifts
                and applied == gifts
                and new_entries == gifts
                and escrow == gifts * AMOUNT_MINOR
            )
            out(
                f"    after: {settled}/{gifts} gifts settled, {applied} events applied, "
                f"{new_entries} journal entries, escrow {escrow / 100:,.2f} EUR "
                f"(expected {gifts * AMOUNT_MINOR / 100:,.2f}): "
                f"{'nothing lost or doubled' if sound else 'LOST OR DOUBLED'}"
            )
            loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            out(f"    load average after the round: {loadavg}")
    report = ledger.verify()
    out(f"  after both rounds verify(): {'ok' if report.ok else report.first}")
    ledger.engine.dispose()
