"""An uploaded document's file: size limit, type by its first bytes, SHA-256.

Only PDF, JPEG and PNG are accepted, recognised by their magic bytes (the name
and the declared type are the sender's word, not a fact). A file is stored once
per SHA-256 (`project_files`, append-only); the same bytes uploaded again are
the same row.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.projects.errors import InvalidFileError
from ledger.projects.models import ProjectFile

MAX_BYTES = 10 * 1024 * 1024
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def media_type(content: bytes) -> str:
    """The media type the first bytes show; InvalidFileError for anything else."""
    for magic, kind in MAGIC:
        if content.startswith(magic):
            return kind
    raise InvalidFileError(
        "Il file non è un PDF, un JPEG o un PNG (riconosciuti dai primi byte).", field="file"
    )


def store_file(
    session: Session, content: bytes, *, clock: Clock, max_bytes: int = MAX_BYTES
) -> ProjectFile:
    """Check and keep the file (once per SHA-256); its row."""
    if not isinstance(content, bytes) or not content:
        raise InvalidFileError("Il file è vuoto.", field="file")
    if len(content) > max_bytes:
        raise InvalidFileError(
            f"Il file supera il limite di {max_bytes} byte.",
            field="file",
            size=len(content),
            limit=max_bytes,
        )
    kind = media_type(content)
    digest = hashlib.sha256(content).hexdigest()
    found = session.scalars(select(ProjectFile).where(ProjectFile.sha256 == digest)).first()
    if found is not None:
        return found
    row = ProjectFile(
        sha256=digest, media_type=kind, size=len(content), content=content, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    return row
