"""What the campaign pages say: states in words, a description as safe HTML, refusals.

The domain's messages are Italian; the texts here are the pages' own, in the
visitor's language (Flask-Babel), chosen from the refusal's code and field or
from the campaign's state. Nothing here reads or writes the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import nh3
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup

from ledger.campaigns.errors import InvalidCampaignError
from ledger.campaigns.models import Campaign
from ledger.campaigns.service import CloseResult
from ledger.core.errors import LedgerError
from web.errors import InvalidInputError
from web.forms import field_error
from web.i18n import format_money

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


# ------------------------------------------------------------------ template globals
def donation_status(status: str) -> str:
    """A donation's state in words."""
    return DONATION_STATUS_TEXT[status]() if status in DONATION_STATUS_TEXT else status


def method_name(method: str) -> str:
    """A payment method in words."""
    return METHOD_TEXT[method]() if method in METHOD_TEXT else method


def refund_status(status: str) -> str:
    """A refund's state in words."""
    return REFUND_STATUS_TEXT[status]() if status in REFUND_STATUS_TEXT else status


def campaign_status(status: str) -> str:
    """A campaign's state in words."""
    return CAMPAIGN_STATUS_TEXT[status]() if status in CAMPAIGN_STATUS_TEXT else status


TEMPLATE_GLOBALS = (donation_status, method_name, refund_status, campaign_status)


# ------------------------------------------------------------------ a campaign's description
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


# ------------------------------------------------------------------ refusals and outcomes
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


def refund_error(form: Any, exc: LedgerError, currency: str) -> None:
    """Attach a refund's refusal to the refund form, in the page's language."""
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


def campaign_error(form: Any, exc: LedgerError) -> None:
    """Attach a new campaign's refusal to the field it names, in the page's language."""
    if not isinstance(exc, InvalidCampaignError):
        if isinstance(exc, InvalidInputError) and exc.details.get("field") == "amount":
            exc.details["field"] = "goal"  # the goal's text did not parse as an amount
        field_error(form, exc)
        return
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


def campaign_state_text(
    exc: LedgerError, campaign: Campaign, *, closing: bool, past_due: bool
) -> str:
    """Why the campaign refused, told from its state (the domain's text is Italian only)."""
    if closing and "deadline" in exc.details:
        return _("La campagna è ancora aperta: si chiude dopo la scadenza.")
    if closing and campaign.status == "draft":
        return _("Una bozza non si chiude: non è mai stata pubblicata.")
    if not closing and campaign.status == "draft" and past_due:
        return _("La scadenza è già passata: crea una nuova campagna.")
    return _("L'operazione non è possibile nello stato attuale della campagna.")


def published_text(title: str) -> str:
    """The message after a campaign was published."""
    return _("Campagna «%(title)s» pubblicata.", title=title)


def close_text(title: str, result: CloseResult) -> str:
    """The message after a campaign was closed, or decided with refunds still on their way."""
    if result.status == "closed":
        return _("Campagna «%(title)s» chiusa.", title=title)
    return _(
        "Campagna «%(title)s» non riuscita: %(n)d rimborsi in corso; si chiuderà quando "
        "saranno tutti eseguiti.",
        title=title,
        n=result.refunds_pending,
    )
