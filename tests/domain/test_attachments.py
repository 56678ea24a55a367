"""Attachments against the real database and a real folder: checks, storage, nothing orphaned."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config import get_settings
from db.models import Event, InboxTask, TaskAttachment, TaskState
from domain import attachments
from domain.attachments import (
    MIB,
    attachments_for,
    clean_filename,
    open_attachment,
    store_attachment,
)
from domain.errors import Forbidden, Invalid, NotFound
from tests.support.factories import complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
LIMIT = MIB
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(16)
ZIP = b"PK\x03\x04" + bytes(26)
# One small file of every accepted kind, as a phone or an office PC would send it.
SAMPLES = [
    ("现场照片.jpg", b"\xff\xd8\xff\xe0" + bytes(16), "image/jpeg"),
    ("scan.JPEG", b"\xff\xd8\xff\xe1" + bytes(16), "image/jpeg"),
    ("漏水.png", PNG, "image/png"),
    ("screen.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(8), "image/webp"),
    ("anim.gif", b"GIF89a" + bytes(10), "image/gif"),
    ("回访记录.pdf", b"%PDF-1.7\n" + bytes(10), "application/pdf"),
    ("说明.txt", "业主已同意维修方案\n".encode(), "text/plain"),
    (
        "整改通知.docx",
        ZIP,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("费用.xlsx", ZIP, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
]


@pytest.fixture
def task(session: Session) -> InboxTask:
    """An open complaint task held by zhangmin at the demo site."""
    return complaint_task(session, NOW)


def store(
    session: Session,
    username: str,
    task: InboxTask,
    folder: Path,
    filename: str = "漏水.png",
    data: bytes = PNG,
    max_bytes: int = LIMIT,
) -> TaskAttachment:
    return store_attachment(
        session,
        person(session, username),
        task.id,
        filename,
        "application/octet-stream",
        data,
        folder,
        NOW,
        max_bytes,
    )


def files_in(folder: Path) -> list[str]:
    """Return every name in `folder`, temporary files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def refused_on_file(problem: Invalid) -> str:
    assert problem.problems[0].loc == ("file",)
    return problem.problems[0].message


def test_a_file_is_stored_under_a_random_key(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    zhangmin = person(session, "zhangmin")

    attachment = store(session, "zhangmin", task, tmp_path)

    assert attachment.filename == "漏水.png"
    # The claimed "application/octet-stream" is not what the file is served as.
    assert attachment.content_type == "image/png"
    assert (attachment.size_bytes, attachment.sha256) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert len(attachment.storage_key) == 32 and "漏水" not in attachment.storage_key
    assert files_in(tmp_path) == [attachment.storage_key]  # no temporary file left
    assert (tmp_path / attachment.storage_key).read_bytes() == PNG
    event = session.scalars(
        select(Event).where(Event.task_id == task.id, Event.kind == "attachment_added")
    ).one()
    assert (event.actor_id, event.at) == (zhangmin.id, NOW)
    assert event.data == {
        "attachment_id": attachment.id,
        "filename": "漏水.png",
        "size_bytes": len(PNG),
    }


def test_two_uploads_of_one_name_get_their_own_files(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    first = store(session, "zhangmin", task, tmp_path)
    second = store(session, "zhangmin", task, tmp_path)

    assert first.storage_key != second.storage_key
    assert files_in(tmp_path) == sorted([first.storage_key, second.storage_key])


@pytest.mark.parametrize(("filename", "data", "content_type"), SAMPLES)
def test_every_accepted_kind_is_stored(
    session: Session,
    task: InboxTask,
    tmp_path: Path,
    filename: str,
    data: bytes,
    content_type: str,
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path, filename, data)

    assert (attachment.filename, attachment.content_type) == (filename, content_type)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\张敏\\Desktop\\漏水.png", "漏水.png"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("  照片\n\r.png  ", "照片.png"),
        ("invoice\u202egnp.exe.pdf", "invoicegnp.exe.pdf"),  # a right-to-left override hides .exe
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ],
    ids=["windows-path", "traversal", "control-characters", "bidi-override", "too-long"],
)
def test_filenames_lose_folders_and_hidden_characters(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept


def test_the_stored_name_is_the_cleaned_one(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path, "../../../tmp/漏水.png")

    assert attachment.filename == "漏水.png"
    assert files_in(tmp_path) == [attachment.storage_key]


def test_a_png_that_is_not_a_png_is_refused(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "漏水.png", b"%PDF-1.7\n" + bytes(10))

    assert refused_on_file(refused.value) == "The file's content does not match its type"
    assert files_in(tmp_path) == []
    assert attachments_for(session, task.id) == []


def test_a_docx_that_is_not_a_zip_package_is_refused(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "整改通知.docx", b"MZ\x90\x00" + bytes(20))

    assert refused_on_file(refused.value) == "The file's content does not match its type"
    assert files_in(tmp_path) == []


def test_a_binary_renamed_to_txt_is_refused(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "readme.txt", b"\x7fELF\x02\x01\x01\x00")

    assert refused_on_file(refused.value) == "The file's content does not match its type"


@pytest.mark.parametrize("filename", ["setup.exe", "photo", "archive.zip"])
def test_a_type_outside_the_allowlist_is_refused(
    session: Session, task: InboxTask, tmp_path: Path, filename: str
) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, filename, PNG)

    assert refused_on_file(refused.value).startswith("Only images")
    assert files_in(tmp_path) == []


def test_an_empty_file_is_refused(session: Session, task: InboxTask, tmp_path: Path) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "漏水.png", b"")

    assert refused_on_file(refused.value) == "The file is empty"
    assert files_in(tmp_path) == []


def test_a_nameless_file_is_refused(session: Session, task: InboxTask, tmp_path: Path) -> None:
    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "C:\\photos\\", PNG)

    assert refused_on_file(refused.value) == "The file needs a name"


def test_a_file_over_the_limit_is_refused_with_the_limit_in_mib(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    at_limit = PNG + bytes(LIMIT - len(PNG))
    store(session, "zhangmin", task, tmp_path, "full.png", at_limit)

    with pytest.raises(Invalid) as refused:
        store(session, "zhangmin", task, tmp_path, "over.png", at_limit + b"\x00")

    assert refused_on_file(refused.value) == "The file is larger than {limit_mib} MiB"
    assert refused.value.problems[0].params == {"limit_mib": "1"}
    assert len(files_in(tmp_path)) == 1


def test_another_staff_member_cannot_attach(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        store(session, "wangqiang", task, tmp_path)

    assert files_in(tmp_path) == []


def test_a_closed_task_takes_files_only_from_who_worked_on_it(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    zhangmin = person(session, "zhangmin")
    session.execute(
        update(InboxTask)
        .where(InboxTask.id == task.id)
        .values(state=TaskState.DONE, completed_by_id=zhangmin.id, completed_at=NOW)
    )

    # The shift lead sees every task at the site but did not work on this one.
    with pytest.raises(Forbidden):
        store(session, "lihua", task, tmp_path)
    assert files_in(tmp_path) == []

    assert store(session, "zhangmin", task, tmp_path).uploader_id == zhangmin.id


def test_an_open_task_takes_files_from_a_manager_who_sees_it(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    assert store(session, "lihua", task, tmp_path).uploader_id == person(session, "lihua").id


def test_the_file_is_removed_when_the_row_cannot_be_stored(
    session: Session, task: InboxTask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row written directly (so no file and no rollback hook of its own) holds the key the
    # next upload draws: the database refuses that upload's row after its file is written.
    taken = "0" * 32
    session.add(
        TaskAttachment(
            task_id=task.id,
            uploader_id=task.assignee_id,
            filename="taken.png",
            content_type="image/png",
            size_bytes=len(PNG),
            sha256=hashlib.sha256(PNG).hexdigest(),
            storage_key=taken,
            created_at=NOW,
        )
    )
    session.flush()
    monkeypatch.setattr(attachments, "new_storage_key", lambda: taken)

    with pytest.raises(IntegrityError):
        store(session, "zhangmin", task, tmp_path, "second.png")

    assert files_in(tmp_path) == []
    session.rollback()


def test_the_file_is_removed_when_the_transaction_rolls_back(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path)
    assert files_in(tmp_path) == [attachment.storage_key]

    session.rollback()  # e.g. a later step of the same request failed

    assert files_in(tmp_path) == []


def test_the_file_is_removed_when_a_later_flush_fails(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    stored = store(session, "zhangmin", task, tmp_path)
    # Another row with the same storage key: the database undoes the whole transaction.
    session.add(
        TaskAttachment(
            task_id=task.id,
            uploader_id=stored.uploader_id,
            filename="copy.png",
            content_type="image/png",
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            storage_key=stored.storage_key,
            created_at=NOW,
        )
    )

    with pytest.raises(IntegrityError):
        session.flush()

    # Gone already, before the caller gets round to rolling back (or only closes the session).
    assert files_in(tmp_path) == []
    session.rollback()


def test_the_file_stays_once_committed(session: Session, task: InboxTask, tmp_path: Path) -> None:
    committed = store(session, "zhangmin", task, tmp_path, "committed.png")
    session.commit()  # releases the test's savepoint; the test's outer transaction still rolls back
    undone = store(session, "zhangmin", task, tmp_path, "undone.png")
    assert files_in(tmp_path) == sorted([committed.storage_key, undone.storage_key])

    session.rollback()  # the next transaction fails: only its own file goes

    assert files_in(tmp_path) == [committed.storage_key]


def test_a_rolled_back_savepoint_removes_only_its_own_files(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    kept = store(session, "zhangmin", task, tmp_path, "kept.png")

    with pytest.raises(RuntimeError), session.begin_nested():
        store(session, "zhangmin", task, tmp_path, "undone.png")
        raise RuntimeError("a later step fails")

    assert files_in(tmp_path) == [kept.storage_key]
    assert [a.filename for a in attachments_for(session, task.id)] == ["kept.png"]


def test_people_who_see_the_task_open_its_attachments(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path)

    for username in ("zhangmin", "lihua"):
        found, path = open_attachment(session, person(session, username), attachment.id, tmp_path)
        assert found.id == attachment.id
        assert path.read_bytes() == PNG


def test_the_configured_folder_is_the_default_for_opening(
    session: Session, task: InboxTask
) -> None:
    folder = get_settings().attachments_dir
    attachment = store(session, "zhangmin", task, folder)

    _, path = open_attachment(session, person(session, "zhangmin"), attachment.id)

    assert path == folder / attachment.storage_key
    session.rollback()  # and leaves the run's folder as it was
    assert not path.exists()


def test_another_staff_member_cannot_open_an_attachment(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path)

    with pytest.raises(NotFound) as refused:
        open_attachment(session, person(session, "wangqiang"), attachment.id, tmp_path)

    # Answered about the attachment, so the task's id does not leak.
    assert refused.value.params == {"attachment_id": attachment.id}


def test_an_unknown_attachment_is_not_found(session: Session, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        open_attachment(session, person(session, "admin"), 1_000_000_000, tmp_path)


def test_an_attachment_whose_file_is_gone_is_not_found(
    session: Session, task: InboxTask, tmp_path: Path
) -> None:
    attachment = store(session, "zhangmin", task, tmp_path)
    (tmp_path / attachment.storage_key).unlink()

    with pytest.raises(NotFound) as refused:
        open_attachment(session, person(session, "zhangmin"), attachment.id, tmp_path)

    assert refused.value.message == "The file of attachment {attachment_id} is missing"


def test_attachments_come_oldest_first(session: Session, task: InboxTask, tmp_path: Path) -> None:
    zhangmin = person(session, "zhangmin")

    def add(name: str, at: datetime) -> TaskAttachment:
        return store_attachment(
            session, zhangmin, task.id, name, "image/png", PNG, tmp_path, at, LIMIT
        )

    later = add("later.png", NOW + timedelta(hours=2))
    earlier = add("earlier.png", NOW + timedelta(hours=1))

    assert [a.id for a in attachments_for(session, task.id)] == [earlier.id, later.id]
