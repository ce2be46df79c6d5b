"""The treasury's crowdfunding pages: donations, refunds, offline gifts, campaigns, receipts.

The `treasury` blueprint (treasurers): every donation with filters, refunds,
gifts received in cash or by bank transfer, campaigns created, published and
closed, and any receipt. Reading needs the role; moving money also needs a
confirmed TOTP code.

Each act is one use case of `ledger.campaigns.commands`, run in the request's
one unit of work, which writes its own audit event. Money forms carry a key
made when they were shown (`web.views.form_key`), the use case's request key,
so a double submit makes one offline gift, one refund, one campaign. A card
refund is sent to Stripe after the commit (`flush_outbox`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from wtforms.fields.choices import SelectChoice

from ledger.campaigns import commands, queries
from ledger.campaigns.commands import Donor
from ledger.campaigns.errors import CampaignStateError, InvalidCampaignError
from ledger.campaigns.getters import get_campaign
from ledger.campaigns.models import DONATION_STATES, METHODS, Campaign, Receipt
from ledger.core.errors import LedgerError
from ledger.statements.receipts import render_receipt_pdf
from web import views
from web.access import allow
from web.amounts import parse_amount_text
from web.campaigns import reads, texts
from web.campaigns.forms import (
    CampaignForm,
    OfflineDonationForm,
    RefundForm,
    ReissueReceiptForm,
)
from web.campaigns.pages import pdf_response
from web.campaigns.payments import offline_maximum
from web.campaigns.reads import TREASURER
from web.campaigns.settings import default_recipient
from web.db import in_transaction
from web.errors import InvalidInputError
from web.forms import ActionForm, field_error
from web.i18n import format_money
from web.mail import flush_outbox

treasury_bp = Blueprint("treasury", __name__)

TREASURY_ROWS = 200


# ------------------------------------------------------------------ donations
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

    rows, campaigns = views.read_once(read)
    return render_template(
        "campaigns/treasury_donations.html",
        rows=rows,
        campaigns=campaigns,
        chosen={"campaign": campaign_id, "status": status, "method": method, "flagged": flagged},
        states=DONATION_STATES,
        methods=METHODS,
        limit=TREASURY_ROWS,
    )


@treasury_bp.get("/tesoreria/donazioni/<int:donation_id>")
@allow(TREASURER)
def donation_detail(donation_id: int) -> ResponseReturnValue:
    """One donation: donor, money, refunds and receipts."""
    detail = views.read_once(lambda db: reads.donation_detail(db, donation_id))
    return render_template("campaigns/treasury_donation.html", detail=detail)


@treasury_bp.route("/tesoreria/donazioni/<int:donation_id>/rimborso", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def refund(donation_id: int) -> ResponseReturnValue:
    """Refund a gift: by card through Stripe (after the commit), in cash or by bank
    transfer booked at once as paid back by the treasurer."""
    detail = views.snapshot(lambda db: reads.donation_detail(db, donation_id))
    gift = detail.row.donation
    form = RefundForm()
    key = views.form_key(form)
    if form.validate_on_submit():
        origin, clock = views.origin(), views.clock()
        try:
            raw = (form.amount.data or "").strip()
            amount = parse_amount_text(raw, gift.currency) if raw else None
            refunded = in_transaction(
                lambda db: commands.refund_donation(
                    db, donation_id, amount, origin=origin, clock=clock, key=key
                )
            ).value
        except LedgerError as exc:
            texts.refund_error(form, exc, gift.currency)
        else:
            amount_text = format_money(refunded.amount_minor, refunded.currency)
            if gift.method == "card":
                flush_outbox()
                flash(
                    _(
                        "Rimborso di %(amount)s richiesto: Stripe lo esegue e il registro lo "
                        "contabilizza alla conferma.",
                        amount=amount_text,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "Rimborso di %(amount)s registrato come restituito al donatore.",
                        amount=amount_text,
                    ),
                    "success",
                )
            return redirect(url_for("treasury.donation_detail", donation_id=donation_id))
    status = 422 if form.is_submitted() else 200
    return render_template("campaigns/refund.html", detail=detail, form=form), status


@treasury_bp.route("/tesoreria/donazioni/<int:donation_id>/ricevuta", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def reissue_receipt(donation_id: int) -> ResponseReturnValue:
    """Correct the donor a gift's receipt prints: the receipt is voided, never altered,
    and a new one with a new number is issued."""
    detail = views.snapshot(lambda db: reads.donation_detail(db, donation_id))
    valid = [r for r in detail.receipts if r.voided_on is None]
    if not valid:
        raise NotFound()
    current = valid[-1]
    form = ReissueReceiptForm(
        data={
            "full_name": current.donor_name or "",
            "codice_fiscale": current.donor_codice_fiscale or "",
        }
        if request.method == "GET"
        else None
    )
    key = views.form_key(form)
    if form.validate_on_submit():
        origin, clock = views.origin(), views.clock()
        name, code = form.full_name.data or "", form.codice_fiscale.data or None
        try:
            outcome = in_transaction(
                lambda db: commands.reissue_receipt(
                    db,
                    donation_id,
                    donor_name=name,
                    donor_codice_fiscale=code,
                    origin=origin,
                    clock=clock,
                    key=key,
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            issued = outcome.value
            flash(
                _(
                    "Ricevuta %(old)s annullata; emessa la ricevuta %(new)s.",
                    old=f"{current.year}/{current.number:06d}",
                    new=f"{issued.year}/{issued.number:06d}",
                )
                if outcome.created
                else _("Questa ricevuta era già stata riemessa."),
                "success",
            )
            return redirect(url_for("treasury.donation_detail", donation_id=donation_id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "campaigns/reissue_receipt.html", detail=detail, receipt=current, form=form
    ), status


def _live_campaign_choices() -> list[SelectChoice]:
    def read(db: Session) -> list[Campaign]:
        return [c for c in queries.all_campaigns(db) if c.status == "live"]

    return [SelectChoice(str(c.id), f"{c.title} (n. {c.id})") for c in views.snapshot(read)]


@treasury_bp.route("/tesoreria/donazioni/nuova", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def offline_donation() -> ResponseReturnValue:
    """Record a gift received in cash at a community point or by bank transfer."""
    form = OfflineDonationForm()
    choices = _live_campaign_choices()
    form.campaign.choices = choices
    if request.method == "GET" and request.args.get("campagna"):
        form.campaign.data = request.args["campagna"]
    key = views.form_key(form)
    if form.validate_on_submit():
        origin, clock = views.origin(), views.clock()
        try:
            campaign_id = int(form.campaign.data)
            currency = views.snapshot(lambda db: get_campaign(db, campaign_id).currency)
            amount = parse_amount_text(form.amount.data or "", currency)
            donor = Donor(
                email=form.donor_email.data or None,
                full_name=form.donor_name.data or None,
                codice_fiscale=form.donor_codice_fiscale.data or None,
            )
            outcome = in_transaction(
                lambda db: commands.record_offline_gift(
                    db,
                    campaign_id,
                    amount,
                    method=form.method.data or "",
                    donated_on=form.donated_on.data,
                    reference=form.reference.data or None,
                    anonymous=bool(form.anonymous.data),
                    donor=donor,
                    origin=origin,
                    clock=clock,
                    key=key,
                    maximum_minor=offline_maximum(),
                )
            )
        except LedgerError as exc:
            if "maximum" in exc.details and exc.details.get("field") == "amount":
                form.amount.errors = [
                    *list(form.amount.errors),
                    texts.amount_error_text(exc, currency),
                ]
            else:
                field_error(form, exc)
        else:
            donation = outcome.value
            if outcome.created:
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


# ------------------------------------------------------------------ campaigns
@treasury_bp.get("/tesoreria/campagne")
@allow(TREASURER)
def campaign_list() -> ResponseReturnValue:
    """Every campaign with its figures, and the buttons to publish and close."""
    today = views.today()
    cards = views.read_once(lambda db: reads.cards(db, queries.all_campaigns(db), today))
    return render_template("campaigns/treasury_campaigns.html", cards=cards)


@treasury_bp.route("/tesoreria/campagne/nuova", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_campaign() -> ResponseReturnValue:
    """Create a draft campaign for the organisation named in the settings."""
    form = CampaignForm()
    key = views.form_key(form)
    if form.validate_on_submit():
        origin, clock = views.origin(), views.clock()
        try:
            deadline = form.deadline.data
            assert deadline is not None
            goal = parse_amount_text(form.goal.data or "", "EUR")
            recipient = default_recipient()
            created = in_transaction(
                lambda db: commands.create_campaign(
                    db,
                    title=form.title.data or "",
                    description_md=form.description.data or "",
                    goal=goal,
                    deadline_at=reads.end_of_day_rome(deadline),
                    funding_model=form.funding_model.data or "",
                    organisation=recipient,
                    origin=origin,
                    clock=clock,
                    key=key,
                )
            ).value
        except LedgerError as exc:
            texts.campaign_error(form, exc)
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


def _confirmed(
    campaign_id: int, template: str, act: Callable[[Session], tuple[str, bool]], *, closing: bool
) -> ResponseReturnValue:
    """GET: a confirmation page; POST: `act` (its message, and whether refunds were
    queued for the outbox), then back to the list."""
    form = ActionForm()
    found = views.snapshot(lambda db: get_campaign(db, campaign_id))
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template(template, campaign=found, form=form), status
    try:
        message, queued = in_transaction(act)
    except (CampaignStateError, InvalidCampaignError) as exc:
        past_due = found.deadline_at <= views.clock().now()
        form.form_errors.append(
            texts.campaign_state_text(exc, found, closing=closing, past_due=past_due)
        )
        return render_template(template, campaign=found, form=form), exc.http_status
    if queued:
        flush_outbox()
    flash(message, "success")
    return redirect(url_for("treasury.campaign_list"))


@treasury_bp.route("/tesoreria/campagne/<int:campaign_id>/pubblica", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def publish_view(campaign_id: int) -> ResponseReturnValue:
    """Publish a draft: it appears on the public list and accepts gifts."""
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> tuple[str, bool]:
        published = commands.publish_campaign(db, campaign_id, origin=origin, clock=clock)
        return texts.published_text(published.value.title), False

    return _confirmed(campaign_id, "campaigns/confirm_publish.html", act, closing=False)


@treasury_bp.route("/tesoreria/campagne/<int:campaign_id>/chiudi", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def close_view(campaign_id: int) -> ResponseReturnValue:
    """Close a campaign after its deadline (an all-or-nothing one short of its goal
    refunds every gift first)."""
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> tuple[str, bool]:
        result = commands.close_campaign(db, campaign_id, origin=origin, clock=clock).value
        title = get_campaign(db, campaign_id).title
        return texts.close_text(title, result), result.refunds_created > 0

    return _confirmed(campaign_id, "campaigns/confirm_close.html", act, closing=True)


@treasury_bp.get("/tesoreria/ricevute/<int:receipt_id>.pdf")
@allow(TREASURER)
def treasury_receipt(receipt_id: int) -> ResponseReturnValue:
    """Any receipt, valid or voided (ANNULLATA), with the donor's name."""

    def read(db: Session) -> tuple[bytes, str]:
        receipt = db.get(Receipt, receipt_id)
        if receipt is None:
            raise NotFound()
        data = render_receipt_pdf(queries.receipt_data(db, receipt))
        return data, reads.receipt_filename(receipt)

    data, filename = views.read_once(read)
    return pdf_response(data, filename)
