"""Periodic jobs: what ran, when, and one run at a time across workers.

`registry` names the periodic jobs of the domain (closing due campaigns,
expiring holds, matching bank lines, blanking old audit addresses); each calls
the existing use cases with the worker's `Origin`. The web layer adds the jobs
that need the application (the outbox's e-mail and Stripe refunds, the Stripe
sync) in `web.worker`. `runner` runs one job under the lock (`lock`), records
every attempt in `job_runs` (`runs`), retries a failed run with back-off and
queues an e-mail to the admins after N consecutive failures; `scheduler` runs
them on their intervals with APScheduler (`ledger worker`).
"""
