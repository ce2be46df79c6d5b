"""The grant statement (rendicontazione) of a foundation for a period: data, PDF and CSV.

Rule: every figure is read from the books as of the end of the period
(`end`, a Europe/Rome business date), never from a running total:

- a commitment's money in each state is `commitment_states(session, c, as_of=end)`,
  the balances of its own engine accounts (reserved: the holds open on its
  pool at the end of `end`), shown next to the same balances at the end of
  the day before `start`;
- the same states per campaign are the same postings and holds split by the
  `campaign_id` every matching entry and hold carries in its metadata, so the
  campaigns' figures add up to the commitment's (a posting without a campaign
  would be shown as "not attributed", never dropped);
- money raised from the crowd is the campaign escrow's balance at `end`
  (gifts less refunds and disputes), split per gift by the `donation_id` of
  each entry; a gift counts when what is left of it at `end` is positive.
  Donors are named only when they consented (`donation.anonymous` is False)
  and the gift has a person; everyone else is counted, never named;
- movements in the period are the grant log (`grant_events`) of the Rome days
  `start`..`end`: disbursements, clawbacks (due, repaid, taken back to the pool),
  forfeits and clawbacks kept under policy "keep", each with its journal
  sequence when money moved;
- the statement ends with the chain head of the last journal entry it covers:
  the highest sequence whose effective date is on or before `end`, with its
  hash, so the foundation can later check (`ledger verify`) that nothing
  before it changed.

Texts are Italian (the organisation's documents are); amounts are printed
as plain decimal strings ("1234.56") in the CSV. Names and titles are kept as
people wrote them, in any script: the CSV writes them unchanged (escaped by
`ledger.statements.csv_cells` where a spreadsheet would run them as formulas),
and the PDF of the same data, `ledger.statements.grants_pdf`, prints them
with the package's Unicode font.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.models import Campaign, Donation
from ledger.core.clock import ROME
from ledger.core.errors import LedgerError
from ledger.core.head import head_as_of
from ledger.core.models import Account, Hold, HoldResolution, JournalEntry, Posting
from ledger.core.money import format_it
from ledger.grants import accounts
from ledger.grants.getters import get_foundation, threshold_rule
from ledger.grants.models import Allocation, Commitment, GrantEvent
from ledger.grants.queries import States, commitment_states
from ledger.people.models import Person
from ledger.statements.csv_cells import Cell, amount_cell, csv_writer

STATES: Final = ("pledged", "reserved", "earned", "released", "disbursed", "clawback_due")
STATE_LABELS: Final = {
    "pledged": "Promesso, non riservato (disponibile nel fondo)",
    "reserved": "Riservato",
    "earned": "Maturato",
    "released": "Svincolato",
    "disbursed": "Erogato",
    "clawback_due": "Da restituire alla fondazione",
}
# What the grant log's kinds are called in the statement.
EVENT_LABELS: Final = {
    "pledged": "Impegno assunto",
    "reserved": "Riservato",
    "earned": "Maturato",
    "released": "Svincolato",
    "disbursed": "Erogazione ricevuta",
    "forfeited": "Decaduto (tornato al fondo)",
    "clawback": "Recuperato (tornato al fondo)",
    "clawback_due": "Da restituire (già erogato)",
    "clawback_kept": "Rimborso senza recupero (trattenuto: politica 'mantieni')",
    "clawback_repaid": "Restituito alla fondazione",
    "cancelled": "Impegno annullato (parte non riservata restituita)",
}
# Movements listed one by one in the statement (the rest are summed by kind).
LISTED_EVENTS: Final = (
    "pledged",
    "released",
    "disbursed",
    "forfeited",
    "clawback",
    "clawback_due",
    "clawback_kept",
    "clawback_repaid",
    "cancelled",
)
METHOD_WORDS: Final = {"card": "carta", "bank_transfer": "bonifico", "cash": "contanti"}
CAMPAIGN_STATUS_WORDS: Final = {
    "draft": "bozza",
    "live": "aperta",
    "succeeded": "riuscita",
    "failed": "non riuscita",
    "closed": "chiusa",
}
CSV_HEADER: Final = ("sezione", "impegno", "campagna", "voce", "importo", "valuta", "dettaglio")


class InvalidStatementPeriodError(LedgerError):
    """The period asked for is not a period (422)."""

    code = "invalid_statement_period"


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True, slots=True)
class NamedDonor:
    """A donor who consented to be named, with what their named gifts add at the end."""

    name: str
    gifts: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CampaignPart:
    """One campaign a commitment covers, at the end of the period."""

    campaign_id: int
    title: str
    status: str
    currency: str
    budget_minor: int  # the campaign's goal
    gifts: int  # settled gifts with something left at the end
    raised_minor: int  # the escrow's balance: gifts less refunds and disputes (gross)
    fees_minor: int  # payment fees on those gifts
    counted_minor: int  # what the rule counts: gross, or net of fees
    threshold_minor: int | None
    named: tuple[NamedDonor, ...]
    unnamed_gifts: int
    unnamed_minor: int
    states: dict[str, int]  # reserved, earned, released, disbursed, clawback_due


@dataclass(frozen=True, slots=True)
class EventLine:
    """One entry of the grant log in the period."""

    at: datetime
    kind: str
    campaign_id: int | None
    amount_minor: int
    entry_sequence: int | None
    note: str


@dataclass(frozen=True, slots=True)
class CommitmentPart:
    """One commitment of the foundation: rules, money states, campaigns, movements."""

    commitment_id: int
    title: str
    kind: str
    status: str
    currency: str
    count_net: bool
    clawback_policy: str
    rules: tuple[tuple[str, str], ...]  # (setting, in words)
    states: States  # at the end of the period, from the engine
    opening: States  # at the end of the day before the period, from the engine
    campaigns: tuple[CampaignPart, ...]
    unattributed: dict[str, int]  # states no campaign's metadata claims (normally zeros)
    events: tuple[EventLine, ...]  # listed movements in the period
    period_totals: tuple[tuple[str, int, int], ...]  # (kind, count, amount) in the period
    kept_to_date_minor: int  # clawbacks kept under "keep", up to the end
    forfeited_to_date_minor: int  # forfeits, up to the end

    @property
    def counting_words(self) -> str:
        return counting_words(self.count_net)


@dataclass(frozen=True, slots=True)
class GrantStatement:
    foundation_id: int
    foundation_name: str
    foundation_tax_code: str | None
    start: date
    end: date
    generated_on: date
    commitments: tuple[CommitmentPart, ...]
    head_sequence: int  # 0 when no entry is dated on or before `end`
    head_hash: str
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # currency -> state -> sum


# --------------------------------------------------------------------------- words


def counting_words(count_net: bool) -> str:
    return (
        "Il cofinanziamento si calcola sulle donazioni al netto delle commissioni di pagamento."
        if count_net
        else "Il cofinanziamento si calcola sulle donazioni lorde (commissioni comprese)."
    )


def _decimal_it(text: str) -> str:
    number = Decimal(text).normalize()
    plain = format(number, "f")
    return plain.replace(".", ",")


def _percent_it(share: str) -> str:
    return _decimal_it(str(Decimal(share) * 100)) + "%"


def instant_it(value: datetime) -> str:
    """An instant as Rome time, dd/mm/yyyy hh:mm:ss (how the statement prints a moment)."""
    return value.astimezone(ROME).strftime("%d/%m/%Y %H:%M:%S")


def rule_words(row: Commitment, budget_minor: int | None = None) -> tuple[tuple[str, str], ...]:
    """Every setting of a commitment in Italian words, in a fixed order."""
    cur = row.currency

    def money(minor: int) -> str:
        return format_it(minor, cur)

    out: list[tuple[str, str]] = []
    if row.campaign_id is not None:
        out.append(("Ambito", f"Campagna n. {row.campaign_id}"))
    else:
        out.append(("Ambito", f"Ogni campagna del bando n. {row.call_id}"))
    out.append(("Importo impegnato", money(row.pool_minor)))
    if row.kind == "ratio":
        ratio = _decimal_it(row.ratio or "0")
        out.append(("Regola", f"Raddoppio in proporzione: {ratio} {cur} per ogni 1 {cur} donato"))
        methods = ", ".join(METHOD_WORDS.get(m, m) for m in (row.methods or "").split(",") if m)
        out.append(("Metodi di pagamento ammessi", methods or "nessuno"))
        out.append(
            (
                "Donazione minima ammessa",
                money(row.min_gift_minor) if row.min_gift_minor else "nessun minimo",
            )
        )
        out.append(
            (
                "Parte massima considerata di ogni donazione",
                money(row.max_gift_minor) if row.max_gift_minor is not None else "nessun limite",
            )
        )
        out.append(
            (
                "Tetto per donatore (tutte le sue donazioni)",
                money(row.donor_cap_minor) if row.donor_cap_minor is not None else "nessun tetto",
            )
        )
        out.append(
            (
                "Tetto per campagna",
                money(row.campaign_cap_minor)
                if row.campaign_cap_minor is not None
                else "nessun tetto (oltre all'importo impegnato)",
            )
        )
        out.append(
            (
                "Arrotondamento",
                "Metodo cumulativo: cofinanziamento finora = parte intera di "
                "(rapporto x donato ammissibile finora), entro i tetti",
            )
        )
    else:
        if row.threshold_minor is not None:
            threshold = money(row.threshold_minor)
        else:
            threshold = f"{_percent_it(row.threshold_share or '0')} del budget"
            if budget_minor is not None:
                figure = threshold_rule(row, budget_minor).threshold_minor
                threshold += f" ({money(figure)})"
        out.append(("Regola", f"Integrazione a soglia: quando la raccolta raggiunge {threshold}"))
        if row.min_donors:
            out.append(("Numero minimo di donatori diversi", str(row.min_donors)))
        if row.topup_minor is not None:
            topup = money(row.topup_minor)
        else:
            topup = f"{_percent_it(row.topup_share or '0')} del budget"
        if row.topup_cap_minor is not None:
            topup += f", al massimo {money(row.topup_cap_minor)}"
        out.append(("Integrazione", topup))
        out.append(
            (
                "Se la raccolta supera l'obiettivo",
                "l'integrazione resta fissa"
                if row.topup_policy == "fixed"
                else "si integra solo quanto manca per raggiungere l'obiettivo",
            )
        )
        if row.bonus_share is not None:
            bonus = (
                f"{_percent_it(row.bonus_share)} del budget se la campagna raggiunge il 100% "
                "senza l'integrazione"
            )
            if row.bonus_cap_minor is not None:
                bonus += f", al massimo {money(row.bonus_cap_minor)}"
            out.append(("Premio di completamento", bonus))
        out.append(("Rilascio", "Una sola volta, alla prima donazione che raggiunge la soglia"))
    out.append(
        (
            "Finestra di ammissibilità",
            f"dal {instant_it(row.window_start)} al {instant_it(row.window_end)} (ora di Roma)",
        )
    )
    out.append(("Conteggio", counting_words(row.count_net)))
    out.append(("Solo denaro incassato", "Contano solo le donazioni incassate (regolate)"))
    out.append(
        (
            "In caso di rimborso",
            "si mantiene il cofinanziamento già riconosciuto (il rimborso resta visibile)"
            if row.clawback_policy == "keep"
            else "la parte non più dovuta torna alla fondazione (o è da restituire se già erogata)",
        )
    )
    return tuple(out)


# --------------------------------------------------------------------------- reading the books


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=ROME).astimezone(UTC)


def _account_id(session: Session, code: str) -> int | None:
    return session.scalar(select(Account.id).where(Account.code == code))


def _meta(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _campaign_of(meta: dict[str, Any]) -> int | None:
    value = meta.get("campaign_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def states_by_campaign(
    session: Session, commitment_id: int, end: date
) -> dict[int | None, dict[str, int]]:
    """The commitment's states other than the pool at the end of `end`, per campaign."""
    out: dict[int | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES[1:], 0))
    for state, code in (
        ("earned", accounts.earned(commitment_id)),
        ("released", accounts.released(commitment_id)),
        ("disbursed", accounts.disbursed(commitment_id)),
        ("clawback_due", accounts.clawback_due(commitment_id)),
    ):
        account_id = _account_id(session, code)
        if account_id is None:
            continue
        for meta, amount in session.execute(
            select(JournalEntry.metadata_json, Posting.amount_minor)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == account_id, JournalEntry.effective_on <= end)
        ):
            # Asset accounts: the debit-positive sum is the balance.
            out[_campaign_of(_meta(meta))][state] += int(amount)
    pool_id = _account_id(session, accounts.pool(commitment_id))
    if pool_id is not None:
        cutoff = _day_start(end + timedelta(days=1))
        for meta, amount in session.execute(
            select(Hold.metadata_json, Hold.amount_minor)
            .outerjoin(HoldResolution, HoldResolution.hold_id == Hold.id)
            .where(
                Hold.credit_account_id == pool_id,
                Hold.created_at < cutoff,
                (HoldResolution.id.is_(None)) | (HoldResolution.resolved_at >= cutoff),
            )
        ):
            out[_campaign_of(_meta(meta))]["reserved"] += int(amount)
    return dict(out)


@dataclass(slots=True)
class _Gift:
    donation: Donation
    left_minor: int = 0


def _crowd(session: Session, campaign: Campaign, end: date, count_net: bool) -> dict[str, Any]:
    """Gifts to the campaign at the end of `end`, from its escrow account's postings."""
    escrow_id = _account_id(session, campaign_accounts.escrow(campaign.id))
    left: dict[int | None, int] = defaultdict(int)
    if escrow_id is not None:
        for meta, amount in session.execute(
            select(JournalEntry.metadata_json, Posting.amount_minor)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == escrow_id, JournalEntry.effective_on <= end)
        ):
            donation_id = _meta(meta).get("donation_id")
            key = donation_id if isinstance(donation_id, int) else None
            left[key] -= int(amount)  # a liability: credits (negative) are money raised
    raised = sum(left.values())
    ids = [k for k, v in left.items() if k is not None and v > 0]
    gifts = (
        {d.id: d for d in session.scalars(select(Donation).where(Donation.id.in_(ids)))}
        if ids
        else {}
    )
    people = (
        {
            p.id: p
            for p in session.scalars(
                select(Person).where(
                    Person.id.in_({d.person_id for d in gifts.values() if d.person_id is not None})
                )
            )
        }
        if gifts
        else {}
    )
    fees = counted = 0
    named: dict[int, list[int]] = {}
    unnamed_gifts = unnamed_minor = 0
    for donation_id in sorted(ids):
        donation = gifts[donation_id]
        amount = left[donation_id]
        fee = donation.fee_minor or 0
        fees += fee
        counted += max(0, amount - fee) if count_net else amount
        person = people.get(donation.person_id) if donation.person_id is not None else None
        if person is not None and not donation.anonymous and person.full_name:
            tally = named.setdefault(person.id, [0, 0])
            tally[0] += 1
            tally[1] += amount
        else:
            unnamed_gifts += 1
            unnamed_minor += amount
    # Money on the escrow no gift claims (none in these books) is never dropped.
    unnamed_minor += left.get(None, 0)
    donors = sorted(
        (NamedDonor(people[pid].full_name, n, amount) for pid, (n, amount) in named.items()),
        key=lambda d: (d.name.casefold(), -d.amount_minor),
    )
    return {
        "gifts": len(ids),
        "raised": raised,
        "fees": fees,
        "counted": counted if count_net else raised,
        "named": tuple(donors),
        "unnamed_gifts": unnamed_gifts,
        "unnamed_minor": unnamed_minor,
    }


def _campaign_ids(
    session: Session, row: Commitment, split: dict[int | None, dict[str, int]], cutoff: datetime
) -> list[int]:
    ids: set[int] = {cid for cid in split if cid is not None}
    if row.campaign_id is not None:
        ids.add(row.campaign_id)
    ids.update(
        session.scalars(
            select(Allocation.campaign_id).where(
                Allocation.commitment_id == row.id, Allocation.created_at < cutoff
            )
        )
    )
    return sorted(ids)


def status_as_of(campaign: Campaign, cutoff: datetime) -> str:
    """The campaign's status at `cutoff`: its present one once decided or closed by then,
    else live once published by then, else a draft."""
    ended = [t for t in (campaign.decided_at, campaign.closed_at) if t is not None]
    if ended and min(ended) < cutoff:
        return campaign.status
    if campaign.published_at is not None and campaign.published_at < cutoff:
        return "live"
    return "draft"


def _campaign_part(
    session: Session, row: Commitment, campaign: Campaign, split: dict[str, int], end: date
) -> CampaignPart:
    crowd = _crowd(session, campaign, end, row.count_net)
    threshold = (
        threshold_rule(row, campaign.goal_minor).threshold_minor
        if row.kind == "threshold"
        else None
    )
    return CampaignPart(
        campaign_id=campaign.id,
        title=campaign.title,
        status=status_as_of(campaign, _day_start(end + timedelta(days=1))),
        currency=campaign.currency,
        budget_minor=campaign.goal_minor,
        gifts=crowd["gifts"],
        raised_minor=crowd["raised"],
        fees_minor=crowd["fees"],
        counted_minor=crowd["counted"],
        threshold_minor=threshold,
        named=crowd["named"],
        unnamed_gifts=crowd["unnamed_gifts"],
        unnamed_minor=crowd["unnamed_minor"],
        states=dict(split),
    )


def _commitment_part(session: Session, row: Commitment, start: date, end: date) -> CommitmentPart:
    begin, cutoff = _day_start(start), _day_start(end + timedelta(days=1))
    states = commitment_states(session, row.id, as_of=end)
    opening = commitment_states(session, row.id, as_of=start - timedelta(days=1))
    split = states_by_campaign(session, row.id, end)
    campaigns = []
    budget: int | None = None
    for campaign_id in _campaign_ids(session, row, split, cutoff):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            continue
        part = split.get(campaign_id, dict.fromkeys(STATES[1:], 0))
        campaigns.append(_campaign_part(session, row, campaign, part, end))
        if row.campaign_id == campaign_id:
            budget = campaign.goal_minor
    unattributed = split.get(None, dict.fromkeys(STATES[1:], 0))
    log = list(
        session.scalars(
            select(GrantEvent)
            .where(GrantEvent.commitment_id == row.id, GrantEvent.created_at < cutoff)
            .order_by(GrantEvent.id)
        )
    )
    in_period = [e for e in log if e.created_at >= begin]
    totals: dict[str, list[int]] = {}
    for event in in_period:
        tally = totals.setdefault(event.kind, [0, 0])
        tally[0] += 1
        tally[1] += event.amount_minor
    order = list(EVENT_LABELS)
    return CommitmentPart(
        commitment_id=row.id,
        title=row.title,
        kind=row.kind,
        status=row.status if row.cancelled_at is None or row.cancelled_at < cutoff else "active",
        currency=row.currency,
        count_net=row.count_net,
        clawback_policy=row.clawback_policy,
        rules=rule_words(row, budget),
        states=states,
        opening=opening,
        campaigns=tuple(campaigns),
        unattributed=dict(unattributed),
        events=tuple(
            EventLine(
                e.created_at,
                e.kind,
                e.campaign_id,
                e.amount_minor,
                e.entry_sequence,
                e.note or "",
            )
            for e in in_period
            if e.kind in LISTED_EVENTS
        ),
        period_totals=tuple(
            (kind, totals[kind][0], totals[kind][1])
            for kind in sorted(totals, key=lambda k: order.index(k) if k in order else 99)
        ),
        kept_to_date_minor=sum(e.amount_minor for e in log if e.kind == "clawback_kept"),
        forfeited_to_date_minor=sum(e.amount_minor for e in log if e.kind == "forfeited"),
    )


def build_grant_statement(
    session: Session,
    foundation_id: int,
    start: date,
    end: date,
    *,
    today: date,
    commitment_ids: list[int] | None = None,
) -> GrantStatement:
    """The statement of a foundation's commitments for the Rome days `start`..`end`.

    Every commitment the foundation made by the end of `end` is covered (or only
    `commitment_ids`, which must be the foundation's). Read-only.
    """
    if start > end:
        raise InvalidStatementPeriodError(
            "Il periodo inizia dopo la sua fine.", field="start", start=start.isoformat()
        )
    foundation = get_foundation(session, foundation_id)
    cutoff = _day_start(end + timedelta(days=1))
    query = (
        select(Commitment)
        .where(Commitment.foundation_id == foundation_id, Commitment.created_at < cutoff)
        .order_by(Commitment.id)
    )
    if commitment_ids is not None:
        query = query.where(Commitment.id.in_(commitment_ids))
    parts = tuple(_commitment_part(session, row, start, end) for row in session.scalars(query))
    totals: dict[str, dict[str, int]] = {}
    for part in parts:
        tally = totals.setdefault(part.currency, dict.fromkeys(STATES, 0))
        for state in STATES:
            tally[state] += getattr(part.states, state)
    sequence, digest = head_as_of(session, end)
    return GrantStatement(
        foundation_id=foundation.id,
        foundation_name=foundation.name,
        foundation_tax_code=foundation.tax_code,
        start=start,
        end=end,
        generated_on=today,
        commitments=parts,
        head_sequence=sequence,
        head_hash=digest,
        totals=totals,
    )


# --------------------------------------------------------------------------- CSV


def grant_statement_csv(s: GrantStatement) -> str:
    """The statement as CSV rows: section, commitment, campaign, item, amount, currency, detail.

    Amounts are decimal strings ("1234.56"); counts are whole numbers in the
    amount column with an empty currency.
    """
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(CSV_HEADER)

    def row(section: str, *cells: Cell) -> None:
        writer.writerow([section, *cells])

    row("rendiconto", "", "", "fondazione", "", "", s.foundation_name)
    row("rendiconto", "", "", "periodo", "", "", f"{s.start.isoformat()}..{s.end.isoformat()}")
    row("rendiconto", "", "", "generato_il", "", "", s.generated_on)
    for cur, tally in sorted(s.totals.items()):
        for state in STATES:
            row("totale", "", "", state, amount_cell(tally[state], cur), cur, STATE_LABELS[state])
    for part in s.commitments:
        cur = part.currency
        c = part.commitment_id
        row("impegno", c, "", "titolo", "", "", part.title)
        row("impegno", c, "", "tipo", "", "", part.kind)
        row("impegno", c, "", "stato", "", "", part.status)
        row("impegno", c, "", "conteggio", "", "", "netto" if part.count_net else "lordo")
        row("impegno", c, "", "parola", amount_cell(part.states.word, cur), cur, "")
        for state in STATES:
            amount = getattr(part.states, state)
            row("impegno", c, "", state, amount_cell(amount, cur), cur, STATE_LABELS[state])
        row("impegno_inizio", c, "", "parola", amount_cell(part.opening.word, cur), cur, "")
        for state in STATES:
            amount = getattr(part.opening, state)
            row("impegno_inizio", c, "", state, amount_cell(amount, cur), cur, STATE_LABELS[state])
        row(
            "impegno",
            c,
            "",
            "trattenuto_finora",
            amount_cell(part.kept_to_date_minor, cur),
            cur,
            "",
        )
        row(
            "impegno",
            c,
            "",
            "decaduto_finora",
            amount_cell(part.forfeited_to_date_minor, cur),
            cur,
            "",
        )
        for label, words in part.rules:
            row("regola", c, "", label, "", "", words)
        for camp in part.campaigns:
            cid = camp.campaign_id
            row("campagna", c, cid, "titolo", "", "", camp.title)
            row("campagna", c, cid, "stato", "", "", camp.status)
            row("campagna", c, cid, "budget", amount_cell(camp.budget_minor, cur), cur, "")
            if camp.threshold_minor is not None:
                row("campagna", c, cid, "soglia", amount_cell(camp.threshold_minor, cur), cur, "")
            row("campagna", c, cid, "donazioni", camp.gifts, "", "")
            row("campagna", c, cid, "raccolto", amount_cell(camp.raised_minor, cur), cur, "lordo")
            row("campagna", c, cid, "commissioni", amount_cell(camp.fees_minor, cur), cur, "")
            row("campagna", c, cid, "conteggiato", amount_cell(camp.counted_minor, cur), cur, "")
            for state in STATES[1:]:
                amount = camp.states[state]
                row("campagna", c, cid, state, amount_cell(amount, cur), cur, STATE_LABELS[state])
            for donor in camp.named:
                row(
                    "donatore",
                    c,
                    cid,
                    donor.gifts,
                    amount_cell(donor.amount_minor, cur),
                    cur,
                    donor.name,
                )
            row(
                "donatori_non_nominati",
                c,
                cid,
                camp.unnamed_gifts,
                amount_cell(camp.unnamed_minor, cur),
                cur,
                "",
            )
        for state in STATES[1:]:
            if part.unattributed.get(state):
                row(
                    "non_attribuito",
                    c,
                    "",
                    state,
                    amount_cell(part.unattributed[state], cur),
                    cur,
                    "",
                )
        for kind, count, amount in part.period_totals:
            row("periodo", c, "", kind, amount_cell(amount, cur), cur, count)
        for event in part.events:
            row(
                "movimento",
                c,
                event.campaign_id or "",
                event.kind,
                amount_cell(event.amount_minor, cur),
                cur,
                "; ".join(
                    x
                    for x in (
                        instant_it(event.at),
                        f"reg. n. {event.entry_sequence}" if event.entry_sequence else "",
                        event.note,
                    )
                    if x
                ),
            )
    row("catena", "", "", "ultima_registrazione", s.head_sequence, "", s.head_hash)
    return out.getvalue()
