"""Privacy operations (GDPR): a person's data export, their erasure, the audit log's retention.

This package reads the other domains (people, campaigns, funds, grants,
reconcile, audit) and none of them imports it: the people package may not
import campaigns or funds, so what spans them lives here. `export` collects
everything the product holds about a person; `erasure` replaces their name,
e-mail, codice fiscale and address, keeps what the law requires (and says
why); `commands` are the use cases, with their audit events.
"""
