"""Forms posted after a login session ended, kept server-side until the person logs in again."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

DRAFT_KEY_MAX_CHARS = 64
DRAFT_PAGE_MAX_CHARS = 255


class FormDraft(Base):
    __tablename__ = "form_draft"

    # The random key the browser's session cookie holds; the only way to find the draft.
    key: Mapped[str] = mapped_column(String(DRAFT_KEY_MAX_CHARS), primary_key=True)
    # The page whose form was posted (/tasks/5, /start/complaint); restored only there.
    page: Mapped[str] = mapped_column(String(DRAFT_PAGE_MAX_CHARS))
    # The person whose session ended, when the session still named them; only they get it back.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    # The posted fields as [name, value] pairs, in order (a field may repeat); no CSRF token.
    fields: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
