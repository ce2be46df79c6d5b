"""Crowdfunding pages for everyone and for donors: campaigns, card gifts, one's own gifts.

Two of the three blueprints of campaigns (the third, the treasury's, is
`web.campaigns.treasury`):

- `campaigns` (anyone): the live campaigns, a campaign page with its progress,
  its public donor list (anonymous gifts show no name, anywhere) and the card
  donation form, the gift by bank transfer (a pending gift with its RF
  reference, the IBAN and the EPC QR code), and the thank-you page Stripe
  sends the donor back to;
- `my_donations` (signed in): the user's own gifts, as a page, CSV and JSON,
  and the receipt PDF of each (their name on it even if they gave anonymously).

A card gift is the documented exception to one unit of work per request
(`web.campaigns.payments.begin_checkout`: Stripe is called between two
writes). The form carries a key made when it was shown, so a double submit
makes one donation and one Checkout Session.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from ledger.campaigns import commands as campaign_commands
from ledger.campaigns import queries
from ledger.campaigns.errors import CampaignStateError, InvalidDonationError
from ledger.campaigns.models import Campaign, Donation
from ledger.core.errors import LedgerError
from ledger.payments.stripe_gateway import PaymentProviderError
from ledger.statements.csv_cells import Figure, csv_writer
from ledger.statements.receipts import render_receipt_pdf
from web import CONTENT_SECURITY_POLICY, views
from web.access import current_principal, public, signed_in
from web.amounts import parse_amount_text
from web.campaigns import reads, texts
from web.campaigns.forms import DonationForm, TransferDonationForm
from web.campaigns.payments import PaymentsNotConfiguredError, begin_checkout, donation_limits
from web.campaigns.settings import transfer_account
from web.campaigns.transfers import Instructions, instructions
from web.db import in_transaction
from web.extensions import donate_limit, limiter
from web.forms import field_error

bp = Blueprint("campaigns", __name__)
donor_bp = Blueprint("my_donations", __name__)
for helper in texts.TEMPLATE_GLOBALS:
    bp.add_app_template_global(helper)

STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
# Donations a browser started recently: its thank-you page may show their amount.
SESSION_DONATIONS = "recent_donations"


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


def pdf_response(data: bytes, filename: str) -> Response:
    """A PDF shown in the browser, downloadable as `filename`."""
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


# ------------------------------------------------------------------ public pages
@bp.get("/campagne")
@public
def index() -> ResponseReturnValue:
    """The campaigns open to gifts now."""
    now, today = views.clock().now(), views.today()
    cards = views.read_once(lambda db: reads.cards(db, queries.live_campaigns(db, now=now), today))
    return render_template("campaigns/index.html", cards=cards)


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
    today = views.today()
    page = views.snapshot(
        lambda db: reads.campaign_page(db, campaign_id, principal, today, quote_minor)
    )
    currency = page.card.campaign.currency
    form = DonationForm()
    key = views.form_key(form)
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
                request_key=key,
                success_url=views.external_url(
                    "campaigns.thank_you", campaign_id=campaign_id, donazione="DONATION_ID"
                ),
                cancel_url=views.external_url(
                    "campaigns.campaign", campaign_id=campaign_id, annullata="DONATION_ID"
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
            form.amount.errors = [*list(form.amount.errors), texts.amount_error_text(exc, currency)]
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
        transfers_on=transfer_account() is not None,
        cancelled=request.args.get("annullata") is not None,
        description=texts.description_html(page.card.campaign.description_md),
        minimum=limits.minimum_minor,
        maximum=limits.maximum_minor,
        quote_text=request.args.get("quanto", "")[:24],
        quote_error=quote_error,
    )
    return _with_checkout_csp(Response(html, status=status, mimetype="text/html"))


@bp.route("/campagne/<int:campaign_id>/bonifico", methods=["GET", "POST"])
@public
@limiter.limit(donate_limit, methods=["POST"])
def transfer(campaign_id: int) -> ResponseReturnValue:
    """A gift by bank transfer: the donor pledges an amount; the pending gift gets its RF
    reference and the page shows the IBAN, the beneficiary, the reference and the EPC QR
    code a banking app scans. The gift counts once the bank shows the money (settled by
    reconciliation). Without LEDGER_ORGANISATION_IBAN the page says it is not available."""
    principal = current_principal()
    today = views.today()
    page = views.snapshot(lambda db: reads.campaign_page(db, campaign_id, principal, today, None))
    currency = page.card.campaign.currency
    account = transfer_account()
    form = TransferDonationForm()
    key = views.form_key(form)
    status = 200
    if account is not None and page.card.accepting and form.validate_on_submit():
        try:
            amount = parse_amount_text(form.amount.data or "", currency)
            origin, clock, limits = views.origin(), views.clock(), donation_limits()

            def start(db: Session) -> tuple[Instructions, bool]:
                outcome = campaign_commands.start_transfer_gift(
                    db,
                    campaign_id,
                    amount,
                    person_id=page.person_id,
                    anonymous=not form.show_name.data,
                    donor_name=form.donor_name.data,
                    donor_codice_fiscale=form.donor_codice_fiscale.data,
                    limits=limits,
                    origin=origin,
                    clock=clock,
                    key=key,
                )
                return instructions(outcome.value, account), outcome.created

            pay, created = in_transaction(start)
        except CampaignStateError:
            form.form_errors.append(_("Questa campagna non accetta più donazioni."))
            status = 409
        except InvalidDonationError as exc:
            form.amount.errors = [*list(form.amount.errors), texts.amount_error_text(exc, currency)]
        except LedgerError as exc:
            field_error(form, exc)
        else:
            _remember_donation(pay.donation_id)
            html = render_template(
                "campaigns/transfer.html", card=page.card, form=None, pay=pay, account=account
            )
            return html, 201 if created else 200
    if form.is_submitted() and status == 200:
        status = 422 if account is not None and page.card.accepting else 409
    limits = donation_limits()
    html = render_template(
        "campaigns/transfer.html",
        card=page.card,
        form=form,
        pay=None,
        account=account,
        minimum=limits.minimum_minor,
        maximum=limits.maximum_minor,
    )
    return html, status


@bp.get("/campagne/<int:campaign_id>/grazie")
@public
def thank_you(campaign_id: int) -> ResponseReturnValue:
    """Where Stripe sends the donor back: the gift waits for Stripe's confirmation
    (the webhook settles it) or has been received.

    Only the browser session that started the checkout (it remembers the ids of
    the gifts it started) or the signed-in donor reads a gift's status; for
    anyone else the gift is a 404, the same as an id that does not exist.
    """
    principal = current_principal()
    raw = request.args.get("donazione", "")
    donation_id = int(raw) if raw.isdigit() and len(raw) < 12 else None
    recent = [i for i in session.get(SESSION_DONATIONS, []) if isinstance(i, int)]

    def read(db: Session) -> tuple[Campaign, Donation | None]:
        found = reads.visible_campaign(db, campaign_id, principal)
        gift = db.get(Donation, donation_id) if donation_id is not None else None
        if gift is not None and (gift.campaign_id != campaign_id or gift.method != "card"):
            gift = None
        mine = gift is not None and (
            gift.id in recent
            or (gift.person_id is not None and gift.person_id == reads.own_person_id(db, principal))
        )
        return found, gift if mine else None

    found, gift = views.read_once(read)
    html = render_template("campaigns/thank_you.html", campaign=found, gift=gift)
    return html, 404 if raw and gift is None else 200


# ------------------------------------------------------------------ the donor's own donations
def _own_rows() -> list[queries.DonationRow]:
    principal = views.principal()
    return views.read_once(lambda db: reads.own_donations(db, principal))


@donor_bp.get("/account/donazioni")
@signed_in
def donations() -> ResponseReturnValue:
    """The signed-in user's own gifts, with their status and receipts."""
    return render_template("campaigns/my_donations.html", rows=_own_rows())


CSV_COLUMNS = [
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


# The amounts are the code's own decimal strings; every other text cell is escaped.
_CSV_FIGURES = frozenset({"amount", "refunded"})


def _csv_row(fields: dict[str, Any]) -> list[Any]:
    return [Figure(fields[c]) if c in _CSV_FIGURES else fields[c] for c in CSV_COLUMNS]


@donor_bp.get("/account/donazioni.csv")
@signed_in
def donations_csv() -> ResponseReturnValue:
    """The user's own gifts as CSV (UTF-8, comma-separated, decimal-point amounts)."""
    rows = [reads.export_fields(row) for row in _own_rows()]
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(row) for row in rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="donazioni.csv"'},
    )


@donor_bp.get("/account/donazioni.json")
@signed_in
def donations_json() -> ResponseReturnValue:
    """The user's own gifts as JSON."""
    response = jsonify({"donations": [reads.export_fields(row) for row in _own_rows()]})
    response.headers["Content-Disposition"] = 'attachment; filename="donazioni.json"'
    return response


@donor_bp.get("/account/donazioni/<int:donation_id>/ricevuta.pdf")
@signed_in
def receipt_pdf(donation_id: int) -> ResponseReturnValue:
    """The receipt of one's own gift (voided ones print ANNULLATA); others' gifts, and any
    gift before the caller's address is verified, are 404."""
    principal = views.principal()

    def read(db: Session) -> tuple[bytes, str]:
        gift = db.get(Donation, donation_id)
        person_id = reads.own_person_id(db, principal)
        receipt = queries.printable_receipt(db, donation_id) if gift else None
        if gift is None or person_id is None or gift.person_id != person_id or receipt is None:
            raise NotFound()
        data = render_receipt_pdf(queries.receipt_data(db, receipt))
        return data, reads.receipt_filename(receipt)

    data, filename = views.read_once(read)
    return pdf_response(data, filename)
