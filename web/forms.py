"""What every page form shares: the bare action form and how a domain refusal is shown.

Each area's forms live in its package (`web.people.forms`, `web.books.forms`,
`web.campaigns.forms`, ...). Labels are lazily translated, so one form class
serves both languages. Validation in a form is about shape (required,
lengths); the use cases validate meaning, and `field_error` attaches their
refusal to the field it names.
"""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import Form, HiddenField

from ledger.core.errors import LedgerError
from web.i18n import error_text


def key_field(field_id: str | None = None) -> HiddenField:
    """The hidden request key of a form that moves money or creates something.

    It is made when the form is built for showing (a fresh random key) and sent
    back with it, so a double submit of one shown form is one request to the
    use case (`web.views.form_key`); a new showing gets a new key. `field_id` sets
    its HTML id when another form with a key is on the same page.
    """
    return HiddenField(default=lambda: uuid.uuid4().hex, id=field_id)


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A form with no fields but the CSRF token (sign-out, language switch)."""

    lang = HiddenField()


def field_error(form: Form, exc: LedgerError) -> None:
    """Attach a domain error to the form field it names, or to the form as a whole."""
    name = str(exc.details.get("field", ""))
    text = error_text(exc.code, name, exc.message)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), text]
    else:
        form.form_errors.append(text)
