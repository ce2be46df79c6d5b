"""Crowdfunding pages: public campaigns and gifts, the donor's own donations, the treasury.

Three blueprints, one per audience:

- `campaigns` (anyone): the live campaigns, a campaign page with its progress,
  its public donor list (anonymous gifts show no name, anywhere) and the card
  donation form, and the thank-you page Stripe sends the donor back to;
- `my_donations` (signed in): the user's own gifts, as a page, CSV and JSON,
  and the receipt PDF of each (their name on it even if they gave anonymously);
- `treasury` (treasurers): every donation with filters, refunds, gifts received
  in cash or by bank transfer, campaigns created, published and closed, and any
  receipt. Reading needs the role; moving money also needs a confirmed TOTP code.

Each state change runs in one unit of work with its audit event. A card gift is
the documented exception (`web.payments.begin_checkout`: Stripe is called
between two writes). Forms carry a key made when they were shown, so a double
submit makes one Checkout Session, one offline gift, one refund, one campaign.
Refunds and campaigns have no request-key column: the key's hash is kept in the
audit event written in the same unit of work, and a replay finds it there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import nh3
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from wtforms.fields.choices import SelectChoice

from ledger.audit.models import AuditEvent
from ledger.campaigns import queries
from ledger.campaigns.donations import get_donation, record_offline_donation
from ledger.campaigns.errors import (
    CampaignNotFoundError,
    CampaignStateError,
    InvalidCampaignError,
    InvalidDonationError,
)
from ledger.campaigns.models import (
    DONATION_STATES,
    METHODS,
    Campaign,
    Donation,
    Organisation,
    Receipt,
    Refund,
)
from ledger.campaigns.refunds import confirm_refund, pending_refund, request_refund
from ledger.campaigns.service import (
    CampaignFigures,
    CloseResult,
    NewCampaign,
    close_campaign,
    create_campaign,
    create_organisation,
    figures,
    get_campaign,
    publish_campaign,
)
from ledger.core.clock import ROME, rome_today
from ledger.core.errors import IdempotencyConflictError, LedgerError
from ledger.core.money import Money, format_minor
from ledger.payments.stripe_gateway import PaymentProviderError
from ledger.people.errors import InvalidPersonError
from ledger.people.models import Person, User
from ledger.people.service import normalise_codice_fiscale, normalise_email
from ledger.statements.receipts import render_receipt_pdf
from web import CONTENT_SECURITY_POLICY
from web.access import Principal, allow, audit, current_principal, public, signed_in
from web.books import parse_amount_text
from web.campaigns.payments import PaymentsNotConfiguredError, begin_checkout, donation_limits
from web.db import current_ledger, in_transaction
from web.errors import InvalidInputError
from web.extensions import donate_limit, limiter
from web.forms import (
    ActionForm,
    CampaignForm,
    DonationForm,
    OfflineDonationForm,
    RefundForm,
    field_error,
)
from web.grants import DonorGrants, donor_grants
from web.i18n import format_money
from web.mail import flush_outbox

T = TypeVar("T")

bp = Blueprint("campaigns", __name__)
donor_bp = Blueprint("my_donations", __name__)
treasury_bp = Blueprint("treasury", __name__)

TREASURER = "treasurer"
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
# Donations a browser started recently: its thank-you page may show their amount.
SESSION_DONATIONS = "recent_donations"
PUBLIC_DONORS_SHOWN = 100
TREASURY_ROWS = 200


def register(app: Flask) -> None:
    """Register the three blueprints of campaigns on `app`."""
    for blueprint in (bp, donor_bp, treasury_bp):
        app.register_blueprint(blueprint)


def detached(work: Callable[[Session], T]) -> Callable[[Session], T]:
    """`work`, with what it loaded detached from its session before the session ends:
    a read-only unit rolls back, which would otherwise expire the rows it returns."""

    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return run


def read_once(work: Callable[[Session], T]) -> T:
    """This request's unit of work, read-only, with its rows usable afterwards."""
    return in_transaction(detached(work), read_only=True)


def snapshot(work: Callable[[Session], T]) -> T:
    """A read in its own snapshot before the request's unit of work (form choices)."""
    return current_ledger().read(detached(work))


# ------------------------------------------------------------------ errors of this module
class OrganisationNotConfiguredError(LedgerError):
    """The organisation that runs the instance has no valid codice fiscale in the settings."""

    code = "organisation_not_configured"
    http_status = 503


# ------------------------------------------------------------------ shared helpers
def _clock_now() -> datetime:
    return current_ledger().clock.now()


def request_hash(key: str) -> str:
    """What the audit log keeps of a request key: its hash (a key is the client's text)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def days_left(deadline_at: datetime, today: date) -> int:
    """Whole days from `today` to the deadline's day, both in Europe/Rome (0: last day)."""
    return (deadline_at.astimezone(ROME).date() - today).days


def end_of_day_rome(day: date) -> datetime:
    """23:59:59 of `day` in Rome, as an aware UTC instant (a deadline typed as a date)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ROME).astimezone(UTC)


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_HEADING = re.compile(r"<(/?)h([1-6])>")
ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "code",
    "pre",
    "hr",
}


def description_html(text: str) -> Markup:
    """A campaign's Markdown description as safe HTML.

    CommonMark with raw HTML off, headings moved one level down (the page has
    its own h1), then sanitised by nh3 to an allow-list: no images (the CSP
    allows none from elsewhere), no attributes but a link's href and title, links
    only to http(s) and mailto with rel="nofollow noopener noreferrer".
    """
    rendered = _MARKDOWN.render(text or "")
    shifted = _HEADING.sub(lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + 1)}>", rendered)
    clean = nh3.clean(
        shifted,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def checkout_origin() -> str:
    """Where Stripe Checkout lives (the fake's address in tests), for the CSP's form-action:
    the donation form's POST answers with a redirect there, which form-action governs."""
    base = str(current_app.config.get("STRIPE_API_BASE") or "")
    match = re.match(r"^(https?://[^/]+)", base)
    return match.group(1) if match else STRIPE_CHECKOUT_ORIGIN


def _with_checkout_csp(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {checkout_origin()}"
    )
    return response


def person_id_of(db: Session, principal: Principal | None) -> int | None:
    """The person of the signed-in user (a donor's gifts are linked by person, not user)."""
    if principal is None:
        return None
    user = db.get(User, principal.user_id)
    return user.person_id if user is not None else None


def default_organisation(db: Session) -> Organisation:
    """The organisation named in the settings (ORGANISATION_*), created on first use."""
    config = current_app.config
    raw = str(config.get("ORGANISATION_TAX_CODE") or "").strip()
    if not raw:
        raise OrganisationNotConfiguredError(
            _(
                "Manca il codice fiscale dell'ente che gestisce il registro: impostalo in "
                "LEDGER_ORGANISATION_TAX_CODE (11 cifre o 16 caratteri)."
            ),
            setting="LEDGER_ORGANISATION_TAX_CODE",
        )
    try:
        code = normalise_codice_fiscale(raw)
    except InvalidPersonError:
        raise OrganisationNotConfiguredError(
            _(
                "Il codice fiscale dell'ente in LEDGER_ORGANISATION_TAX_CODE non è valido: "
                "controlla le 11 cifre (o i 16 caratteri)."
            ),
            setting="LEDGER_ORGANISATION_TAX_CODE",
        ) from None
    found = db.scalars(
        select(Organisation).where(Organisation.tax_code == code).order_by(Organisation.id)
    ).first()
    if found is not None:
        return found
    organisation = create_organisation(
        db,
        name=str(config.get("ORGANISATION_NAME") or ""),
        tax_code=raw,
        qualification=str(config.get("ORGANISATION_QUALIFICATION") or ""),
        now=_clock_now(),
    )
    audit(db, "organisation.create", subject_type="organisation", subject_id=organisation.id)
    return organisation


def find_or_create_person(
    db: Session, email: str | None, name: str | None, codice_fiscale: str | None
) -> int | None:
    """The person a treasurer names as donor: found by e-mail, else registered (no user).

    Identity stays in `persons`; the donation refers to it by id. Nothing given:
    no person. A name without an e-mail is refused (an e-mail tells people apart).
    """
    email = (email or "").strip()
    name = " ".join((name or "").split())
    if not email and not name and not (codice_fiscale or "").strip():
        return None
    if not email:
        raise InvalidInputError(
            _("Per collegare un donatore serve la sua e-mail."), field="donor_email"
        )
    try:
        address = normalise_email(email)
        cf = normalise_codice_fiscale(codice_fiscale)
    except InvalidPersonError as exc:
        field = {"email": "donor_email", "codice_fiscale": "donor_codice_fiscale"}.get(
            str(exc.details.get("field")), "donor_email"
        )
        message = (
            _("L'indirizzo e-mail non è valido: scrivilo nella forma nome@dominio.it.")
            if field == "donor_email"
            else _("Il codice fiscale non è valido: controlla i 16 caratteri.")
        )
        raise InvalidInputError(message, field=field) from None
    person = db.scalars(select(Person).where(Person.email == address)).first()
    if person is not None:
        return person.id
    if not name or len(name) > 200:
        raise InvalidInputError(
            _("Questa e-mail non è registrata: indica anche nome e cognome del donatore."),
            field="donor_name",
        )
    person = Person(
        full_name=name, email=address, codice_fiscale=cf, address=None, created_at=_clock_now()
    )
    db.add(person)
    db.flush()
    audit(db, "person.create", subject_type="person", subject_id=person.id)
    return person.id


def amount_error_text(exc: LedgerError, currency: str) -> str:
    """A donation amount refusal in the page's language (the domain's text is Italian)."""
    minimum, maximum = exc.details.get("minimum"), exc.details.get("maximum")
    if isinstance(minimum, int) and isinstance(maximum, int):
        return _(
            "L'importo deve essere tra %(low)s e %(high)s.",
            low=format_money(minimum, currency),
            high=format_money(maximum, currency),
        )
    return exc.message


def _form_key(form: Any) -> str:
    if not form.form_key.data:
        form.form_key.data = uuid.uuid4().hex
    return str(form.form_key.data)[:64]


def _replayed_event(
    db: Session,
    action: str,
    subject_type: str,
    key_hash: str,
    subject_id: int | None = None,
) -> AuditEvent | None:
    """The audit event of an earlier request with this key (see the module docstring):
    among the subject's events when it is given, else among the 500 latest."""
    query = select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.subject_type == subject_type
    )
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == str(subject_id))
    else:
        query = query.order_by(AuditEvent.id.desc()).limit(500)
    for event in db.scalars(query):
        if (event.details or {}).get("request") == key_hash:
            return event
    return None


# ------------------------------------------------------------------ services shared with the API
@dataclass(frozen=True, slots=True)
class RefundOutcome:
    refund_id: int
    donation_id: int
    amount_minor: int
    currency: str
    status: str
    created: bool


def refund_donation(
    db: Session,
    donation_id: int,
    amount: Money | None,
    *,
    request_key: str,
    principal: Principal,
) -> RefundOutcome:
    """Refund a gift (None: all that remains), once per request key.

    Card gifts: the refund is requested and the outbox sends it to Stripe after
    the commit (call `flush_outbox`). Cash and bank gifts: the treasurer has paid
    the money back, so the refund is requested and booked in this unit.
    """
    clock = current_ledger().clock
    donation = get_donation(db, donation_id, lock=True)
    key_hash = request_hash(request_key)
    asked = None if amount is None else format_minor(amount.minor, amount.currency)
    # The same key on this gift is a replay; on another gift, a conflict.
    earlier = _replayed_event(
        db, "donation.refund", "donation", key_hash, donation_id
    ) or _replayed_event(db, "donation.refund", "donation", key_hash)
    if earlier is not None:
        details = earlier.details or {}
        if details.get("asked") != asked or earlier.subject_id != str(donation_id):
            raise IdempotencyConflictError(
                "this key was used for another refund request", key=request_key[:200]
            )
        refund = db.get(Refund, int(details["refund_id"]))
        assert refund is not None
        return RefundOutcome(
            refund.id, donation_id, refund.amount_minor, refund.currency, refund.status, False
        )
    waiting = pending_refund(db, donation_id) if donation.method != "card" else None
    if waiting is not None and (amount is None or amount.minor == waiting.amount_minor):
        # A cash or bank refund already owed (a failed all-or-nothing campaign):
        # the treasurer records that the money was handed back.
        refund = waiting
    else:
        refund = request_refund(db, donation_id, amount, clock=clock, user_id=principal.user_id)
    if donation.method != "card":
        confirm_refund(db, refund.id, clock=clock, actor=f"user:{principal.user_id}")
    audit(
        db,
        "donation.refund",
        subject_type="donation",
        subject_id=donation_id,
        details={
            "refund_id": refund.id,
            "amount": format_minor(refund.amount_minor, refund.currency),
            "currency": refund.currency,
            "method": donation.method,
            "status": refund.status,
            "asked": asked,
            "request": key_hash,
        },
    )
    return RefundOutcome(
        refund.id, donation_id, refund.amount_minor, refund.currency, refund.status, True
    )


@dataclass(frozen=True, slots=True)
class OfflineGift:
    campaign_id: int
    amount: Money
    method: str
    donated_on: date | None
    reference: str | None
    anonymous: bool
    donor_email: str | None = None
    donor_name: str | None = None
    donor_codice_fiscale: str | None = None


def record_offline_gift(
    db: Session, gift: OfflineGift, *, request_key: str, principal: Principal
) -> tuple[Donation, bool]:
    """Record a cash or bank gift once per request key; (donation, created)."""
    existing = db.scalars(select(Donation).where(Donation.request_key == request_key)).first()
    if existing is not None:
        same = (
            existing.campaign_id == gift.campaign_id
            and existing.amount_minor == gift.amount.minor
            and existing.method == gift.method
        )
        if not same:
            raise IdempotencyConflictError(
                "this key was used for another donation", key=request_key[:200]
            )
        return existing, False
    if gift.donated_on is not None and gift.donated_on > rome_today(current_ledger().clock):
        raise InvalidInputError(
            _("La data della donazione non può essere nel futuro."), field="donated_on"
        )
    person_id = find_or_create_person(
        db, gift.donor_email, gift.donor_name, gift.donor_codice_fiscale
    )
    donation, created = record_offline_donation(
        db,
        gift.campaign_id,
        gift.amount,
        method=gift.method,
        person_id=person_id,
        anonymous=gift.anonymous,
        reference=gift.reference,
        request_key=request_key,
        donated_on=gift.donated_on,
        actor=f"user:{principal.user_id}",
        clock=current_ledger().clock,
    )
    if created:
        audit(
            db,
            "donation.record",
            subject_type="donation",
            subject_id=donation.id,
            details={
                "campaign_id": donation.campaign_id,
                "method": donation.method,
                "amount": format_minor(donation.amount_minor, donation.currency),
                "currency": donation.currency,
                "person_linked": person_id is not None,
            },
        )
    return donation, created


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    title: str
    description_md: str
    goal: Money
    deadline_at: datetime
    funding_model: str
    organisation_id: int | None = None


def create_campaign_once(
    db: Session, spec: CampaignSpec, *, request_key: str | None
) -> tuple[Campaign, bool]:
    """A draft campaign for the given (or the default) organisation; once per request key."""
    key_hash = request_hash(request_key) if request_key else None
    if key_hash is not None:
        earlier = _replayed_event(db, "campaign.create", "campaign", key_hash)
        if earlier is not None and earlier.subject_id is not None:
            return get_campaign(db, int(earlier.subject_id)), False
    organisation_id = spec.organisation_id
    if organisation_id is None:
        organisation_id = default_organisation(db).id
    campaign = create_campaign(
        db,
        NewCampaign(
            organisation_id=organisation_id,
            title=spec.title,
            description_md=spec.description_md,
            goal_minor=spec.goal.minor,
            currency=spec.goal.currency,
            deadline_at=spec.deadline_at,
            funding_model=spec.funding_model,
        ),
        clock=current_ledger().clock,
    )
    details: dict[str, Any] = {
        "organisation_id": organisation_id,
        "goal": format_minor(campaign.goal_minor, campaign.currency),
        "currency": campaign.currency,
        "funding_model": campaign.funding_model,
        "deadline_at": campaign.deadline_at.isoformat(),
    }
    if key_hash is not None:
        details["request"] = key_hash
    audit(db, "campaign.create", subject_type="campaign", subject_id=campaign.id, details=details)
    return campaign, True


def publish(db: Session, campaign_id: int) -> Campaign:
    before = get_campaign(db, campaign_id, lock=True).status
    campaign = publish_campaign(db, campaign_id, clock=current_ledger().clock)
    if before != campaign.status:
        audit(db, "campaign.publish", subject_type="campaign", subject_id=campaign_id)
    return campaign


def close(db: Session, campaign_id: int) -> CloseResult:
    before = get_campaign(db, campaign_id, lock=True).status
    result = close_campaign(db, campaign_id, clock=current_ledger().clock)
    if before != result.status or result.refunds_created:
        audit(
            db,
            "campaign.close",
            subject_type="campaign",
            subject_id=campaign_id,
            details={
                "from": before,
                "status": result.status,
                "refunds_created": result.refunds_created,
                "refunds_pending": result.refunds_pending,
            },
        )
    return result


# ------------------------------------------------------------------ what a campaign page shows
@dataclass(frozen=True, slots=True)
class CampaignCard:
    campaign: Campaign
    organisation: str
    figures: CampaignFigures
    days_left: int

    @property
    def shown_percent(self) -> int:
        """Raised over goal, whole percent, floor; above 100 when the goal is passed."""
        goal = self.figures.goal_minor
        return self.figures.raised_minor * 100 // goal if goal else 0

    @property
    def progress_value(self) -> int:
        return min(self.figures.raised_minor, self.figures.goal_minor)

    @property
    def accepting(self) -> bool:
        return self.campaign.status == "live" and self.days_left >= 0


def _card(db: Session, campaign: Campaign, names: dict[int, str], today: date) -> CampaignCard:
    return CampaignCard(
        campaign=campaign,
        organisation=names.get(campaign.organisation_id, ""),
        figures=figures(db, campaign.id),
        days_left=days_left(campaign.deadline_at, today),
    )


def _visible_campaign(db: Session, campaign_id: int, principal: Principal | None) -> Campaign:
    """A campaign the visitor may see: drafts only to treasurers (a preview)."""
    campaign = get_campaign(db, campaign_id)
    if campaign.status == "draft" and not (principal and TREASURER in principal.roles):
        raise CampaignNotFoundError(
            f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
        )
    return campaign


# ------------------------------------------------------------------ public pages
@bp.get("/campagne")
@public
def index() -> ResponseReturnValue:
    """The campaigns open to gifts now."""

    def read(db: Session) -> list[CampaignCard]:
        now = _clock_now()
        found = queries.live_campaigns(db, now=now)
        names = queries.organisation_names(db, {c.organisation_id for c in found})
        today = rome_today(current_ledger().clock)
        return [_card(db, c, names, today) for c in found]

    cards = read_once(read)
    return render_template("campaigns/index.html", cards=cards)


@dataclass(frozen=True, slots=True)
class CampaignPage:
    card: CampaignCard
    gifts: list[queries.PublicGift]
    person_id: int | None
    grants: DonorGrants | None = None


def _campaign_page(
    db: Session,
    campaign_id: int,
    principal: Principal | None,
    quote_minor: int | None = None,
) -> CampaignPage:
    campaign = _visible_campaign(db, campaign_id, principal)
    names = queries.organisation_names(db, {campaign.organisation_id})
    person_id = person_id_of(db, principal)
    return CampaignPage(
        card=_card(db, campaign, names, rome_today(current_ledger().clock)),
        gifts=queries.public_gifts(db, campaign_id, limit=PUBLIC_DONORS_SHOWN),
        person_id=person_id,
        # The matching grants: the match so far and what a gift would add now.
        grants=donor_grants(db, campaign, person_id=person_id, amount_minor=quote_minor),
    )


def _quote_amount(currency: str) -> tuple[int | None, str | None]:
    """The amount of the "what would my gift become" form (?quanto=), or its error."""
    raw = request.args.get("quanto", "").strip()
    if not raw:
        return None, None
    try:
        return parse_amount_text(raw[:24], currency).minor, None
    except LedgerError:
        return None, _("Importo non valido: usa al massimo due decimali, per esempio 12,50.")


def _remember_donation(donation_id: int) -> None:
    recent = [i for i in session.get(SESSION_DONATIONS, []) if isinstance(i, int)]
    session[SESSION_DONATIONS] = [donation_id, *[i for i in recent if i != donation_id]][:10]


@bp.route("/campagne/<int:campaign_id>", methods=["GET", "POST"])
@public
@limiter.limit(donate_limit, methods=["POST"])
def campaign(campaign_id: int) -> ResponseReturnValue:
    """A campaign: description, progress, donors, and the card donation form."""
    principal = current_principal()
    quote_minor, quote_error = _quote_amount("EUR")
    page = snapshot(lambda db: _campaign_page(db, campaign_id, principal, quote_minor))
    currency = page.card.campaign.currency
    form = DonationForm()
    key = _form_key(form)
    payments_on = bool(current_app.config.get("STRIPE_SECRET_KEY"))
    status = 200
    if form.validate_on_submit():
        try:
            if not page.card.accepting:
                raise CampaignStateError(
                    _("Questa campagna non accetta più donazioni."),
                    status=page.card.campaign.status,
                )
            amount = parse_amount_text(form.amount.data or "", currency)
            checkout = begin_checkout(
                campaign_id,
                amount,
                person_id=page.person_id,
                anonymous=not form.show_name.data,
                request_key=f"web:{principal.user_id if principal else 'anon'}:{key}",
                success_url=url_for(
                    "campaigns.thank_you",
                    campaign_id=campaign_id,
                    donazione="DONATION_ID",
                    _external=True,
                ),
                cancel_url=url_for(
                    "campaigns.campaign",
                    campaign_id=campaign_id,
                    annullata="DONATION_ID",
                    _external=True,
                ),
            )
        except PaymentsNotConfiguredError:
            form.form_errors.append(
                _(
                    "I pagamenti con carta non sono attivi in questo momento: nessun addebito "
                    "è stato fatto. Puoi donare in contanti o con bonifico: chiedi ai referenti "
                    "della campagna."
                )
            )
            status = 503
        except PaymentProviderError:
            form.form_errors.append(
                _(
                    "Il servizio di pagamento non risponde: nessun addebito è stato fatto. "
                    "Riprova tra poco con lo stesso modulo."
                )
            )
            status = 502
        except CampaignStateError:
            form.form_errors.append(_("Questa campagna non accetta più donazioni."))
            status = 409
        except InvalidDonationError as exc:
            form.amount.errors = [*list(form.amount.errors), amount_error_text(exc, currency)]
        except LedgerError as exc:
            field_error(form, exc)
        else:
            _remember_donation(checkout.donation_id)
            return redirect(checkout.checkout_url, 303)
    if form.is_submitted() and status == 200:
        status = 422
    limits = donation_limits()
    html = render_template(
        "campaigns/campaign.html",
        page=page,
        card=page.card,
        form=form,
        payments_on=payments_on,
        cancelled=request.args.get("annullata") is not None,
        description=description_html(page.card.campaign.description_md),
        minimum=limits.minimum_minor,
        maximum=limits.maximum_minor,
        quote_text=request.args.get("quanto", "")[:24],
        quote_error=quote_error,
    )
    return _with_checkout_csp(Response(html, status=status, mimetype="text/html"))


DONATION_STATUS_TEXT: dict[str, Callable[[], str]] = {
    "pending": lambda: _("in attesa di conferma"),
    "settled": lambda: _("ricevuta"),
    "failed": lambda: _("non riuscita"),
    "expired": lambda: _("scaduta"),
}
METHOD_TEXT: dict[str, Callable[[], str]] = {
    "card": lambda: _("carta"),
    "bank_transfer": lambda: _("bonifico"),
    "cash": lambda: _("contanti"),
}
REFUND_STATUS_TEXT: dict[str, Callable[[], str]] = {
    "pending": lambda: _("in corso"),
    "succeeded": lambda: _("eseguito"),
    "failed": lambda: _("non riuscito"),
}
CAMPAIGN_STATUS_TEXT: dict[str, Callable[[], str]] = {
    "draft": lambda: _("bozza"),
    "live": lambda: _("aperta"),
    "succeeded": lambda: _("riuscita"),
    "failed": lambda: _("non riuscita"),
    "closed": lambda: _("chiusa"),
}


@bp.app_template_global()
def donation_status(status: str) -> str:
    return DONATION_STATUS_TEXT[status]() if status in DONATION_STATUS_TEXT else status


@bp.app_template_global()
def method_name(method: str) -> str:
    return METHOD_TEXT[method]() if method in METHOD_TEXT else method


@bp.app_template_global()
def refund_status(status: str) -> str:
    return REFUND_STATUS_TEXT[status]() if status in REFUND_STATUS_TEXT else status


@bp.app_template_global()
def campaign_status(status: str) -> str:
    return CAMPAIGN_STATUS_TEXT[status]() if status in CAMPAIGN_STATUS_TEXT else status


@bp.get("/campagne/<int:campaign_id>/grazie")
@public
def thank_you(campaign_id: int) -> ResponseReturnValue:
    """Where Stripe sends the donor back: the gift waits for Stripe's confirmation
    (the webhook settles it) or has been received."""
    principal = current_principal()
    raw = request.args.get("donazione", "")
    donation_id = int(raw) if raw.isdigit() and len(raw) < 12 else None

    def read(db: Session) -> tuple[Campaign, Donation | None, bool]:
        found = _visible_campaign(db, campaign_id, principal)
        gift = db.get(Donation, donation_id) if donation_id is not None else None
        if gift is not None and (gift.campaign_id != campaign_id or gift.method != "card"):
            gift = None
        mine = gift is not None and (
            gift.id in session.get(SESSION_DONATIONS, [])
            or (gift.person_id is not None and gift.person_id == person_id_of(db, principal))
        )
        return found, gift, mine

    found, gift, mine = read_once(read)
    return render_template("campaigns/thank_you.html", campaign=found, gift=gift, mine=mine)


# ------------------------------------------------------------------ the donor's own donations
def _own_rows() -> list[queries.DonationRow]:
    principal = current_principal()
    assert principal is not None

    def read(db: Session) -> list[queries.DonationRow]:
        person_id = person_id_of(db, principal)
        return [] if person_id is None else queries.donations_of_person(db, person_id)

    return read_once(read)


def export_fields(row: queries.DonationRow) -> dict[str, Any]:
    """One donation as the donor's exports (and the API) give it: amounts as decimal strings."""
    gift = row.donation
    return {
        "id": gift.id,
        "campaign_id": gift.campaign_id,
        "campaign": row.campaign_title,
        "created_at": gift.created_at.isoformat(),
        "donated_on": gift.donated_on.isoformat() if gift.donated_on else None,
        "amount": format_minor(gift.amount_minor, gift.currency),
        "refunded": format_minor(gift.refunded_minor, gift.currency),
        "currency": gift.currency,
        "method": gift.method,
        "status": gift.status,
        "anonymous": gift.anonymous,
        "receipt": row.receipt_number,
        "receipt_void": row.receipt_void if row.receipt_number else None,
    }


@donor_bp.get("/account/donazioni")
@signed_in
def donations() -> ResponseReturnValue:
    """The signed-in user's own gifts, with their status and receipts."""
    return render_template("campaigns/my_donations.html", rows=_own_rows())


_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return "'" + text if _FORMULA.match(text) and not re.match(r"^-?\d", text) else text


@donor_bp.get("/account/donazioni.csv")
@signed_in
def donations_csv() -> ResponseReturnValue:
    """The user's own gifts as CSV (UTF-8, comma-separated, decimal-point amounts)."""
    rows = [export_fields(row) for row in _own_rows()]
    out = io.StringIO()
    columns = [
        "id",
        "campaign_id",
        "campaign",
        "created_at",
        "donated_on",
        "amount",
        "refunded",
        "currency",
        "method",
        "status",
        "anonymous",
        "receipt",
        "receipt_void",
    ]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in columns])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="donazioni.csv"'},
    )


@donor_bp.get("/account/donazioni.json")
@signed_in
def donations_json() -> ResponseReturnValue:
    """The user's own gifts as JSON."""
    response = jsonify({"donations": [export_fields(row) for row in _own_rows()]})
    response.headers["Content-Disposition"] = 'attachment; filename="donazioni.json"'
    return response


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@donor_bp.get("/account/donazioni/<int:donation_id>/ricevuta.pdf")
@signed_in
def receipt_pdf(donation_id: int) -> ResponseReturnValue:
    """The receipt of one's own gift (voided ones print ANNULLATA); others' gifts are 404."""
    principal = current_principal()
    assert principal is not None

    def read(db: Session) -> tuple[bytes, str]:
        gift = db.get(Donation, donation_id)
        person_id = person_id_of(db, principal)
        receipt = queries.printable_receipt(db, donation_id) if gift else None
        if gift is None or person_id is None or gift.person_id != person_id or receipt is None:
            raise NotFound()
        return render_receipt_pdf(queries.receipt_data(db, receipt)), _receipt_filename(receipt)

    data, filename = read_once(read)
    return _pdf(data, filename)


def _receipt_filename(receipt: Receipt) -> str:
    return f"ricevuta-{receipt.year}-{receipt.number:06d}.pdf"


# ------------------------------------------------------------------ the treasury
@treasury_bp.get("/tesoreria/donazioni")
@allow(TREASURER)
def donation_list() -> ResponseReturnValue:
    """Every donation with its donor, newest first; filter by campaign, status, method."""
    args = request.args
    raw_campaign = args.get("campagna", "").strip()
    status = args.get("stato", "").strip()
    method = args.get("metodo", "").strip()
    flagged = args.get("segnalate", "") == "1"
    if raw_campaign and not (raw_campaign.isdigit() and len(raw_campaign) < 12):
        raise InvalidInputError(_("Campagna non valida."), field="campagna")
    if status and status not in DONATION_STATES:
        raise InvalidInputError(_("Stato non valido."), field="stato")
    if method and method not in METHODS:
        raise InvalidInputError(_("Metodo non valido."), field="metodo")
    campaign_id = int(raw_campaign) if raw_campaign else None

    def read(db: Session) -> tuple[list[queries.DonationRow], list[Campaign]]:
        rows = queries.donations_for_treasurer(
            db,
            campaign_id=campaign_id,
            status=status or None,
            method=method or None,
            flagged=flagged,
            limit=TREASURY_ROWS,
        )
        return rows, queries.all_campaigns(db)

    rows, campaigns = read_once(read)
    return render_template(
        "campaigns/treasury_donations.html",
        rows=rows,
        campaigns=campaigns,
        chosen={"campaign": campaign_id, "status": status, "method": method, "flagged": flagged},
        states=DONATION_STATES,
        methods=METHODS,
        limit=TREASURY_ROWS,
    )


@dataclass(frozen=True, slots=True)
class DonationDetail:
    row: queries.DonationRow
    refunds: list[Refund]
    receipts: list[Receipt]


def _detail(db: Session, donation_id: int) -> DonationDetail:
    row = queries.donation_row(db, donation_id)
    if row is None:
        get_donation(db, donation_id)  # raises the 404
        raise AssertionError("unreachable")
    return DonationDetail(
        row, queries.refunds_of(db, donation_id), queries.receipts_of(db, donation_id)
    )


@treasury_bp.get("/tesoreria/donazioni/<int:donation_id>")
@allow(TREASURER)
def donation_detail(donation_id: int) -> ResponseReturnValue:
    """One donation: donor, money, refunds and receipts."""
    detail = read_once(lambda db: _detail(db, donation_id))
    return render_template("campaigns/treasury_donation.html", detail=detail)


@treasury_bp.route("/tesoreria/donazioni/<int:donation_id>/rimborso", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def refund(donation_id: int) -> ResponseReturnValue:
    """Refund a gift: by card through Stripe (after the commit), in cash or by bank
    transfer booked at once as paid back by the treasurer."""
    principal = current_principal()
    assert principal is not None
    detail = snapshot(lambda db: _detail(db, donation_id))
    gift = detail.row.donation
    form = RefundForm()
    key = _form_key(form)
    if form.validate_on_submit():
        try:
            raw = (form.amount.data or "").strip()
            amount = parse_amount_text(raw, gift.currency) if raw else None
            outcome = in_transaction(
                lambda db: refund_donation(
                    db,
                    donation_id,
                    amount,
                    request_key=f"web:{principal.user_id}:{key}",
                    principal=principal,
                )
            )
        except LedgerError as exc:
            _refund_error(form, exc, gift.currency)
        else:
            if gift.method == "card":
                flush_outbox()
                flash(
                    _(
                        "Rimborso di %(amount)s richiesto: Stripe lo esegue e il registro lo "
                        "contabilizza alla conferma.",
                        amount=format_money(outcome.amount_minor, outcome.currency),
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "Rimborso di %(amount)s registrato come restituito al donatore.",
                        amount=format_money(outcome.amount_minor, outcome.currency),
                    ),
                    "success",
                )
            return redirect(url_for("treasury.donation_detail", donation_id=donation_id))
    status = 422 if form.is_submitted() else 200
    return render_template("campaigns/refund.html", detail=detail, form=form), status


def _refund_error(form: RefundForm, exc: LedgerError, currency: str) -> None:
    maximum = exc.details.get("maximum_minor")
    if exc.code == "invalid_donation" and isinstance(maximum, int):
        text = _("Si può rimborsare al massimo %(amount)s.", amount=format_money(maximum, currency))
        form.amount.errors = [*list(form.amount.errors), text]
    elif exc.code == "refund_pending":
        form.form_errors.append(
            _("Un rimborso di questa donazione è già in corso: attendi che si concluda.")
        )
    elif exc.code == "nothing_to_refund":
        form.form_errors.append(_("Non resta nulla da rimborsare di questa donazione."))
    else:
        field_error(form, exc)


def _live_campaign_choices() -> list[SelectChoice]:
    def read(db: Session) -> list[Campaign]:
        return [c for c in queries.all_campaigns(db) if c.status == "live"]

    return [SelectChoice(str(c.id), f"{c.title} (n. {c.id})") for c in snapshot(read)]


@treasury_bp.route("/tesoreria/donazioni/nuova", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def offline_donation() -> ResponseReturnValue:
    """Record a gift received in cash at a community point or by bank transfer."""
    principal = current_principal()
    assert principal is not None
    form = OfflineDonationForm()
    choices = _live_campaign_choices()
    form.campaign.choices = choices
    if request.method == "GET" and request.args.get("campagna"):
        form.campaign.data = request.args["campagna"]
    key = _form_key(form)
    if form.validate_on_submit():
        try:
            campaign_id = int(form.campaign.data)
            currency = snapshot(lambda db: get_campaign(db, campaign_id).currency)
            gift = OfflineGift(
                campaign_id=campaign_id,
                amount=parse_amount_text(form.amount.data or "", currency),
                method=form.method.data or "",
                donated_on=form.donated_on.data,
                reference=form.reference.data or None,
                anonymous=bool(form.anonymous.data),
                donor_email=form.donor_email.data or None,
                donor_name=form.donor_name.data or None,
                donor_codice_fiscale=form.donor_codice_fiscale.data or None,
            )
            donation, created = in_transaction(
                lambda db: record_offline_gift(
                    db, gift, request_key=f"web:{principal.user_id}:{key}", principal=principal
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            if created:
                flash(
                    _(
                        "Donazione n. %(id)d di %(amount)s registrata e ricevuta emessa.",
                        id=donation.id,
                        amount=format_money(donation.amount_minor, donation.currency),
                    ),
                    "success",
                )
            else:
                flash(_("Questa donazione era già stata registrata."), "success")
            return redirect(url_for("treasury.donation_detail", donation_id=donation.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "campaigns/offline_donation.html", form=form, has_campaigns=bool(choices)
    ), status


@treasury_bp.get("/tesoreria/campagne")
@allow(TREASURER)
def campaign_list() -> ResponseReturnValue:
    """Every campaign with its figures, and the buttons to publish and close."""

    def read(db: Session) -> list[CampaignCard]:
        found = queries.all_campaigns(db)
        names = queries.organisation_names(db, {c.organisation_id for c in found})
        today = rome_today(current_ledger().clock)
        return [_card(db, c, names, today) for c in found]

    cards = read_once(read)
    return render_template("campaigns/treasury_campaigns.html", cards=cards)


@treasury_bp.route("/tesoreria/campagne/nuova", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_campaign() -> ResponseReturnValue:
    """Create a draft campaign for the organisation named in the settings."""
    principal = current_principal()
    assert principal is not None
    form = CampaignForm()
    key = _form_key(form)
    if form.validate_on_submit():
        try:
            deadline = form.deadline.data
            assert deadline is not None
            spec = CampaignSpec(
                title=form.title.data or "",
                description_md=form.description.data or "",
                goal=parse_amount_text(form.goal.data or "", "EUR"),
                deadline_at=end_of_day_rome(deadline),
                funding_model=form.funding_model.data or "",
            )
            created, _new = in_transaction(
                lambda db: create_campaign_once(
                    db, spec, request_key=f"web:{principal.user_id}:{key}"
                )
            )
        except InvalidInputError as exc:
            if exc.details.get("field") == "amount":
                exc.details["field"] = "goal"
            field_error(form, exc)
        except InvalidCampaignError as exc:
            _campaign_error(form, exc)
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(
                _(
                    "Bozza della campagna «%(title)s» creata: pubblicala quando è pronta.",
                    title=created.title,
                ),
                "success",
            )
            return redirect(url_for("treasury.campaign_list"))
    status = 422 if form.is_submitted() else 200
    return render_template("campaigns/new_campaign.html", form=form), status


def _campaign_error(form: CampaignForm, exc: InvalidCampaignError) -> None:
    field = str(exc.details.get("field", ""))
    texts = {
        "title": _("Il titolo è obbligatorio (massimo 200 caratteri)."),
        "description": _("La descrizione supera 20.000 caratteri."),
        "goal": _("L'obiettivo deve essere maggiore di zero."),
        "deadline": _("La scadenza deve essere nel futuro."),
    }
    target = getattr(form, field, None) if field in texts else None
    if target is not None:
        target.errors = [*list(target.errors), texts[field]]
    else:
        form.form_errors.append(exc.message)


def _campaign_action(
    campaign_id: int, action: Callable[[Session], Any], template: str
) -> ResponseReturnValue:
    """GET: a confirmation page; POST: the action, then back to the list."""
    form = ActionForm()
    found = snapshot(lambda db: get_campaign(db, campaign_id))
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template(template, campaign=found, form=form), status
    try:
        result = in_transaction(action)
    except (CampaignStateError, InvalidCampaignError) as exc:
        form.form_errors.append(
            _campaign_state_text(exc, found, closing=template.endswith("close.html"))
        )
        return render_template(template, campaign=found, form=form), exc.http_status
    if isinstance(result, CloseResult):
        if result.refunds_created:
            flush_outbox()
        flash(_close_text(found.title, result), "success")
    else:
        flash(_("Campagna «%(title)s» pubblicata.", title=found.title), "success")
    return redirect(url_for("treasury.campaign_list"))


def _campaign_state_text(exc: LedgerError, campaign: Campaign, *, closing: bool) -> str:
    """Why the campaign refused, told from its state (the domain's text is Italian only)."""
    if closing and "deadline" in exc.details:
        return _("La campagna è ancora aperta: si chiude dopo la scadenza.")
    if closing and campaign.status == "draft":
        return _("Una bozza non si chiude: non è mai stata pubblicata.")
    if not closing and campaign.status == "draft" and campaign.deadline_at <= _clock_now():
        return _("La scadenza è già passata: crea una nuova campagna.")
    return _("L'operazione non è possibile nello stato attuale della campagna.")


def _close_text(title: str, result: CloseResult) -> str:
    if result.status == "closed":
        return _("Campagna «%(title)s» chiusa.", title=title)
    return _(
        "Campagna «%(title)s» non riuscita: %(n)d rimborsi in corso; si chiuderà quando "
        "saranno tutti eseguiti.",
        title=title,
        n=result.refunds_pending,
    )


@treasury_bp.route("/tesoreria/campagne/<int:campaign_id>/pubblica", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def publish_view(campaign_id: int) -> ResponseReturnValue:
    """Publish a draft: it appears on the public list and accepts gifts."""
    return _campaign_action(
        campaign_id, lambda db: publish(db, campaign_id), "campaigns/confirm_publish.html"
    )


@treasury_bp.route("/tesoreria/campagne/<int:campaign_id>/chiudi", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def close_view(campaign_id: int) -> ResponseReturnValue:
    """Close a campaign after its deadline (an all-or-nothing one short of its goal
    refunds every gift first)."""
    return _campaign_action(
        campaign_id, lambda db: close(db, campaign_id), "campaigns/confirm_close.html"
    )


@treasury_bp.get("/tesoreria/ricevute/<int:receipt_id>.pdf")
@allow(TREASURER)
def treasury_receipt(receipt_id: int) -> ResponseReturnValue:
    """Any receipt, valid or voided (ANNULLATA), with the donor's name."""

    def read(db: Session) -> tuple[bytes, str]:
        receipt = db.get(Receipt, receipt_id)
        if receipt is None:
            raise NotFound()
        return render_receipt_pdf(queries.receipt_data(db, receipt)), _receipt_filename(receipt)

    data, filename = read_once(read)
    return _pdf(data, filename)
