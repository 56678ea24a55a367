"""Files attached to a task: checked, written to disk under a random key, and read back."""

import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from config import get_settings
from db.models import TaskAttachment, TaskState, User
from domain.errors import Forbidden, Invalid, NotFound
from domain.events import EventKind, record_event
from domain.task_access import get_task

MIB = 1024 * 1024
# The filename column's width.
MAX_FILENAME_CHARS = 200
# Where a session keeps the files its open transactions wrote (see remove_on_rollback).
PENDING_FILES_KEY = "kefu_attachment_files"
ZIP_SIGNATURE = b"PK\x03\x04"  # .docx and .xlsx are ZIP packages


@dataclass(frozen=True)
class FileType:
    """An accepted kind of file: the type it is served as and how its first bytes must look."""

    content_type: str
    looks_right: Callable[[bytes], bool]


def _starts_with(*signatures: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(signatures)


def _is_webp(data: bytes) -> bool:
    # RIFF container: "RIFF", a four-byte length, then the format "WEBP".
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _is_text(data: bytes) -> bool:
    # Plain text has no magic number; a NUL byte means a binary file renamed to .txt.
    return b"\x00" not in data


JPEG = FileType("image/jpeg", _starts_with(b"\xff\xd8\xff"))
# Keyed by lowercase extension. The browser's claimed type is not trusted: a file is served
# with the type its extension names here, and only if its bytes agree.
ALLOWED_TYPES: dict[str, FileType] = {
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".png": FileType("image/png", _starts_with(b"\x89PNG\r\n\x1a\n")),
    ".webp": FileType("image/webp", _is_webp),
    ".gif": FileType("image/gif", _starts_with(b"GIF87a", b"GIF89a")),
    ".pdf": FileType("application/pdf", _starts_with(b"%PDF-")),
    ".txt": FileType("text/plain", _is_text),
    ".docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _starts_with(ZIP_SIGNATURE),
    ),
    ".xlsx": FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _starts_with(ZIP_SIGNATURE),
    ),
}


def store_attachment(
    session: Session,
    user: User,
    task_id: int,
    filename: str,
    content_type: str,
    data: bytes,
    folder: Path,
    now: datetime,
    max_bytes: int,
) -> TaskAttachment:
    """Check a file and keep it on a task; return its record (the bytes are in `folder`).

    `content_type` is what the browser claimed; it is not trusted (see ALLOWED_TYPES).
    """
    task = get_task(session, user, task_id)
    if task.state != TaskState.OPEN and user.id not in (task.assignee_id, task.completed_by_id):
        raise Forbidden("This task is closed; only the people who worked on it can add files")
    name = clean_filename(filename)
    file_type = check_file(name, data, max_bytes)
    storage_key = new_storage_key()
    path = folder / storage_key
    write_atomically(path, data)
    try:
        attachment = TaskAttachment(
            task_id=task.id,
            uploader_id=user.id,
            filename=name,
            content_type=file_type.content_type,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=storage_key,
            created_at=now,
        )
        session.add(attachment)
        session.flush()
        record_event(
            session,
            process_id=task.process_id,
            task_id=task.id,
            kind=EventKind.ATTACHMENT_ADDED,
            at=now,
            actor_id=user.id,
            data={"attachment_id": attachment.id, "filename": name, "size_bytes": len(data)},
        )
    except BaseException:
        # Nothing half-written: a file whose row was never stored is an orphan nobody can reach.
        path.unlink(missing_ok=True)
        raise
    remove_on_rollback(session, path)
    return attachment


def open_attachment(
    session: Session, user: User, attachment_id: int, folder: Path | None = None
) -> tuple[TaskAttachment, Path]:
    """Return an attachment and the path of its bytes, if `user` may see its task.

    `folder` defaults to the configured attachments folder; tests pass their own.
    """
    missing = NotFound("Attachment {attachment_id} does not exist", attachment_id=attachment_id)
    attachment = session.get(TaskAttachment, attachment_id)
    if attachment is None:
        raise missing
    try:
        get_task(session, user, attachment.task_id)
    except NotFound:
        # Answer as if the attachment did not exist, so its task's id does not leak.
        raise missing from None
    path = (folder or get_settings().attachments_dir) / attachment.storage_key
    if not path.is_file():
        raise NotFound(
            "The file of attachment {attachment_id} is missing", attachment_id=attachment_id
        )
    return attachment, path


def attachments_for(session: Session, task_id: int) -> list[TaskAttachment]:
    """Return a task's attachments, oldest first; the caller has already checked who may see it."""
    return list(
        session.scalars(
            select(TaskAttachment)
            .where(TaskAttachment.task_id == task_id)
            .order_by(TaskAttachment.created_at, TaskAttachment.id)
        )
    )


def clean_filename(filename: str) -> str:
    """Return the file's own name: no folders, no control characters, at most the column's width."""
    name = unicodedata.normalize("NFC", filename)
    # Some browsers send the whole client path, with either separator.
    name = re.split(r"[\\/]", name)[-1]
    # Control and format characters (newlines, right-to-left overrides) only hide the real name.
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    if name in ("", ".", ".."):
        raise Invalid.field("file", "The file needs a name")
    if len(name) > MAX_FILENAME_CHARS:
        suffix = PurePath(name).suffix[:MAX_FILENAME_CHARS]
        name = name[: MAX_FILENAME_CHARS - len(suffix)] + suffix
    return name


def check_file(name: str, data: bytes, max_bytes: int) -> FileType:
    """Return the accepted type of a file, or refuse it: empty, too large, or not what it claims."""
    if not data:
        raise Invalid.field("file", "The file is empty")
    if len(data) > max_bytes:
        raise Invalid.field(
            "file", "The file is larger than {limit_mib} MiB", limit_mib=f"{max_bytes / MIB:g}"
        )
    file_type = ALLOWED_TYPES.get(PurePath(name).suffix.lower())
    if file_type is None:
        raise Invalid.field(
            "file",
            "Only images (JPEG, PNG, WebP, GIF), PDF, text, Word and Excel files can be attached",
        )
    if not file_type.looks_right(data):
        raise Invalid.field("file", "The file's content does not match its type")
    return file_type


def new_storage_key() -> str:
    """Return a fresh random name for a file on disk; never derived from the user's filename."""
    return uuid.uuid4().hex


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that the path holds either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file sits in the same folder, so os.replace is a rename on one filesystem.
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def remove_on_rollback(session: Session, path: Path) -> None:
    """Delete `path` if the transaction that stored its row is rolled back later.

    The caller commits after we return, so a failure after this point (another step of the
    request, the commit itself) would otherwise leave the file without its row.
    """
    pending: list[tuple[SessionTransaction, Path]] | None = session.info.get(PENDING_FILES_KEY)
    if pending is None:
        pending = session.info[PENDING_FILES_KEY] = []
        event.listen(session, "after_soft_rollback", _remove_rolled_back_files)
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None  # get_task above began it
    pending.append((transaction, path))


def _remove_rolled_back_files(session: Session, previous: SessionTransaction) -> None:
    # A rollback of a flush's inner transaction undoes its nearest savepoint or the whole
    # transaction in the database, so that boundary is what was really rolled back.
    boundary = previous
    while boundary.parent is not None and not boundary.nested:
        boundary = boundary.parent
    current_root = session.get_transaction()
    kept = []
    for transaction, path in session.info[PENDING_FILES_KEY]:
        if _is_within(transaction, boundary):
            path.unlink(missing_ok=True)
        elif _root_of(transaction) is current_root:
            kept.append((transaction, path))
        # Otherwise its transaction was committed and is over: the file stays, the entry goes.
    session.info[PENDING_FILES_KEY] = kept


def _is_within(transaction: SessionTransaction, ancestor: SessionTransaction) -> bool:
    step: SessionTransaction | None = transaction
    while step is not None:
        if step is ancestor:
            return True
        step = step.parent
    return False


def _root_of(transaction: SessionTransaction) -> SessionTransaction:
    while transaction.parent is not None:
        transaction = transaction.parent
    return transaction
