"""Applications to calls for ideas: drafts, submission, withdrawal and eligibility screening.

States and who moves them:

    draft --submit (proponent, only while the call is open)--> submitted
    submitted --screen (staff: answers against the required ones)--> in_review | screened_out
    in_review --propose an award--> awarded --approve (another person)--> approved
    awarded --proposal refused--> in_review;   in_review --reject--> rejected
    approved --first payment--> disbursing --close--> closed
    draft | submitted | in_review --withdraw (proponent)--> withdrawn

Every transition is written to `application_events` (append-only) with the
acting user and the instant, in the same transaction as the change. A refused
transition raises before anything is written. Services take the caller's
session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.funds.call_errors import (
    ApplicationNotFoundError,
    ApplicationStateError,
    CallClosedError,
    InvalidApplicationError,
)
from ledger.funds.call_models import (
    APPLICATION_KINDS,
    Application,
    ApplicationAnswer,
    ApplicationEvent,
    Call,
)
from ledger.funds.calls import get_call, questions_of

WITHDRAWABLE = ("draft", "submitted", "in_review")
# Ideas the public may see as financed.
FINANCED = ("approved", "disbursing", "closed")


@dataclass(frozen=True, slots=True)
class ApplicationDraft:
    title: str
    summary: str
    requested_minor: int
    kind: str
    answers: Mapping[int, bool]
    public_name_consent: bool = False


def get_application(session: Session, application_id: int, *, lock: bool = False) -> Application:
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise ApplicationNotFoundError(
            f"nessuna candidatura con id {application_id}", application_id=application_id
        )
    return found


def own_application(
    session: Session, application_id: int, user_id: int, *, lock: bool = False
) -> Application:
    """The application if `user_id` is its proponent; anyone else's is not found."""
    found = get_application(session, application_id, lock=lock)
    if found.proponent_user_id != user_id:
        raise ApplicationNotFoundError(
            f"nessuna candidatura con id {application_id}", application_id=application_id
        )
    return found


def move(
    session: Session,
    application: Application,
    to_status: str,
    *,
    actor_user_id: int | None,
    now: datetime,
    note: str | None = None,
) -> ApplicationEvent:
    """Change the application's state and record the transition (who, when, from, to)."""
    event = ApplicationEvent(
        application_id=application.id,
        from_status=application.status,
        to_status=to_status,
        actor_user_id=actor_user_id,
        occurred_at=now,
        note=(note or None) and note[:500],
    )
    application.status = to_status
    session.add(event)
    return event


def history(session: Session, application_id: int) -> list[ApplicationEvent]:
    """Every transition of the application, oldest first."""
    return list(
        session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application_id)
            .order_by(ApplicationEvent.id)
        )
    )


def _validate(session: Session, call: Call, draft: ApplicationDraft) -> tuple[str, str]:
    title = " ".join((draft.title or "").split())
    if not title or len(title) > 200:
        raise InvalidApplicationError(
            "Il titolo dell'idea è obbligatorio (massimo 200 caratteri).", field="title"
        )
    summary = (draft.summary or "").strip()
    if not summary or len(summary) > 10_000:
        raise InvalidApplicationError(
            "La descrizione dell'idea è obbligatoria (massimo 10.000 caratteri).",
            field="summary",
        )
    if draft.kind not in APPLICATION_KINDS:
        raise InvalidApplicationError(f"Tipo sconosciuto: {draft.kind}.", field="kind")
    if call.award_kind not in ("either", draft.kind):
        raise InvalidApplicationError(
            f"Questo bando concede solo: {call.award_kind}.", field="kind", allowed=call.award_kind
        )
    if (
        isinstance(draft.requested_minor, bool)
        or not isinstance(draft.requested_minor, int)
        or draft.requested_minor <= 0
    ):
        raise InvalidApplicationError(
            "L'importo richiesto deve essere maggiore di zero.", field="requested"
        )
    if draft.requested_minor > call.max_award_minor:
        raise InvalidApplicationError(
            "L'importo richiesto supera il contributo massimo del bando.",
            field="requested",
            maximum_minor=call.max_award_minor,
        )
    known = {q.id for q in questions_of(session, call.id)}
    unknown = sorted(set(draft.answers) - known)
    if unknown:
        raise InvalidApplicationError(
            "Risposta a una domanda che il bando non pone.", field="answers", questions=unknown
        )
    return title, summary


def _write_answers(session: Session, application_id: int, answers: Mapping[int, bool]) -> None:
    for question_id, answer in answers.items():
        row = session.get(ApplicationAnswer, (application_id, question_id))
        if row is None:
            session.add(
                ApplicationAnswer(
                    application_id=application_id, question_id=question_id, answer=bool(answer)
                )
            )
        else:
            row.answer = bool(answer)


def create_application(
    session: Session,
    call_id: int,
    draft: ApplicationDraft,
    *,
    proponent_user_id: int,
    clock: Clock,
) -> Application:
    """A draft application; refused once the call has closed."""
    now = clock.now()
    call = get_call(session, call_id)
    if now >= call.closes_at:
        raise CallClosedError(
            "il bando è chiuso: non accetta nuove candidature",
            closes_at=call.closes_at.isoformat(),
        )
    title, summary = _validate(session, call, draft)
    application = Application(
        call_id=call_id,
        proponent_user_id=proponent_user_id,
        title=title,
        summary=summary,
        requested_minor=draft.requested_minor,
        currency=call.currency,
        kind=draft.kind,
        status="draft",
        public_name_consent=bool(draft.public_name_consent),
        created_at=now,
    )
    session.add(application)
    session.flush()
    _write_answers(session, application.id, draft.answers)
    session.add(
        ApplicationEvent(
            application_id=application.id,
            from_status=None,
            to_status="draft",
            actor_user_id=proponent_user_id,
            occurred_at=now,
        )
    )
    session.flush()
    return application


def update_application(
    session: Session,
    application_id: int,
    draft: ApplicationDraft,
    *,
    proponent_user_id: int,
    clock: Clock,
) -> Application:
    """Change a draft (only a draft, only its proponent, only before the call closes)."""
    application = own_application(session, application_id, proponent_user_id, lock=True)
    if application.status != "draft":
        raise ApplicationStateError(
            f"la candidatura è {application.status}: si modifica solo una bozza",
            status=application.status,
        )
    call = get_call(session, application.call_id)
    if clock.now() >= call.closes_at:
        raise CallClosedError("il bando è chiuso", closes_at=call.closes_at.isoformat())
    title, summary = _validate(session, call, draft)
    application.title = title
    application.summary = summary
    application.requested_minor = draft.requested_minor
    application.kind = draft.kind
    application.public_name_consent = bool(draft.public_name_consent)
    _write_answers(session, application.id, draft.answers)
    session.flush()
    return application


def answers_of(session: Session, application_id: int) -> dict[int, bool]:
    return {
        row.question_id: row.answer
        for row in session.scalars(
            select(ApplicationAnswer).where(ApplicationAnswer.application_id == application_id)
        )
    }


def submit_application(
    session: Session, application_id: int, *, proponent_user_id: int, clock: Clock
) -> Application:
    """draft -> submitted, while the call is open and with every question answered.

    After the call closes (or before it opens) this raises `CallClosedError` and
    changes nothing: the application stays a draft.
    """
    now = clock.now()
    application = own_application(session, application_id, proponent_user_id, lock=True)
    if application.status == "submitted":
        return application
    if application.status != "draft":
        raise ApplicationStateError(
            f"la candidatura è {application.status}: si invia solo una bozza",
            status=application.status,
        )
    call = get_call(session, application.call_id)
    if now < call.opens_at:
        raise CallClosedError(
            "il bando non è ancora aperto", opens_at=call.opens_at.isoformat(), reason="not_open"
        )
    if now >= call.closes_at:
        raise CallClosedError(
            "il bando è chiuso: la candidatura non può più essere inviata",
            closes_at=call.closes_at.isoformat(),
            reason="closed",
        )
    answers = answers_of(session, application_id)
    missing = [q.position for q in questions_of(session, call.id) if q.id not in answers]
    if missing:
        raise InvalidApplicationError(
            "Rispondi a tutte le domande di ammissibilità prima di inviare.",
            field="answers",
            missing=missing,
        )
    application.submitted_at = now
    move(session, application, "submitted", actor_user_id=proponent_user_id, now=now)
    session.flush()
    return application


def withdraw_application(
    session: Session, application_id: int, *, proponent_user_id: int, clock: Clock
) -> Application:
    """The proponent withdraws (from draft, submitted or in review); final."""
    application = own_application(session, application_id, proponent_user_id, lock=True)
    if application.status == "withdrawn":
        return application
    if application.status not in WITHDRAWABLE:
        raise ApplicationStateError(
            f"la candidatura è {application.status}: non si può più ritirare",
            status=application.status,
        )
    move(session, application, "withdrawn", actor_user_id=proponent_user_id, now=clock.now())
    session.flush()
    return application


def screen_application(
    session: Session, application_id: int, *, actor_user_id: int, clock: Clock
) -> Application:
    """submitted -> in_review when every answer is the required one, else screened_out."""
    application = get_application(session, application_id, lock=True)
    if application.status != "submitted":
        raise ApplicationStateError(
            f"la candidatura è {application.status}: si verifica solo se inviata",
            status=application.status,
        )
    answers = answers_of(session, application_id)
    failed = [
        q.position
        for q in questions_of(session, application.call_id)
        if answers.get(q.id) is not q.required_answer
    ]
    if failed:
        move(
            session,
            application,
            "screened_out",
            actor_user_id=actor_user_id,
            now=clock.now(),
            note="requisiti non soddisfatti: domande " + ", ".join(str(p) for p in failed),
        )
    else:
        move(session, application, "in_review", actor_user_id=actor_user_id, now=clock.now())
    session.flush()
    return application


def reject_application(
    session: Session,
    application_id: int,
    *,
    actor_user_id: int,
    clock: Clock,
    note: str | None = None,
) -> Application:
    """in_review -> rejected: the committee does not finance the idea."""
    application = get_application(session, application_id, lock=True)
    if application.status != "in_review":
        raise ApplicationStateError(
            f"la candidatura è {application.status}: si respinge solo se in valutazione",
            status=application.status,
        )
    move(session, application, "rejected", actor_user_id=actor_user_id, now=clock.now(), note=note)
    session.flush()
    return application


def applications_of_user(session: Session, user_id: int) -> list[Application]:
    return list(
        session.scalars(
            select(Application)
            .where(Application.proponent_user_id == user_id)
            .order_by(Application.id.desc())
        )
    )


def applications_of_call(session: Session, call_id: int) -> list[Application]:
    return list(
        session.scalars(
            select(Application).where(Application.call_id == call_id).order_by(Application.id)
        )
    )
