"""The knowledge base: procedures and lessons learned, written by anyone, readable by everyone."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import KbArticle, KbArticleTag, User
from domain.errors import NotFound
from forms.resignation import KbArticleCreate

DEFAULT_SEARCH_LIMIT = 20
# LIKE wildcards typed by a user are searched for literally.
LIKE_ESCAPE = "\\"


def write_article(
    session: Session,
    author: User,
    draft: KbArticleCreate,
    now: datetime,
    knowledge_session_id: int | None = None,
) -> KbArticle:
    """Add an article by `author`; return it."""
    article = KbArticle(
        title=draft.title,
        body=draft.body,
        author_id=author.id,
        knowledge_session_id=knowledge_session_id,
        created_at=now,
        updated_at=now,
    )
    article.tag_rows = [KbArticleTag(tag=tag) for tag in draft.tags]
    session.add(article)
    session.flush()
    return article


def get_article(session: Session, article_id: int) -> KbArticle:
    """Return an article, or raise NotFound."""
    article = session.get(KbArticle, article_id)
    if article is None:
        raise NotFound("Article {article_id} does not exist", article_id=article_id)
    return article


def _contains(term: str) -> str:
    escaped = term.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"%{escaped}%"


def search_articles(
    session: Session,
    query: str = "",
    tag: str | None = None,
    limit: int = DEFAULT_SEARCH_LIMIT,
    offset: int = 0,
) -> list[KbArticle]:
    """Return articles matching every word of `query` (title, body or tag) and `tag`, newest first.

    Case-insensitive LIKE: the same SQL on SQLite and PostgreSQL. The tag filter uses the tag
    index; free-text words scan titles and bodies, which is fine for a department's knowledge
    base (a pg_trgm index is the step up if it grows to many thousands of articles).
    """
    statement = select(KbArticle)
    if tag:
        statement = statement.where(KbArticle.tag_rows.any(KbArticleTag.tag == tag.strip().lower()))
    for word in query.split():
        pattern = _contains(word)
        statement = statement.where(
            or_(
                KbArticle.title.ilike(pattern, escape=LIKE_ESCAPE),
                KbArticle.body.ilike(pattern, escape=LIKE_ESCAPE),
                KbArticle.tag_rows.any(KbArticleTag.tag.ilike(pattern, escape=LIKE_ESCAPE)),
            )
        )
    statement = statement.order_by(KbArticle.created_at.desc(), KbArticle.id.desc())
    return list(session.scalars(statement.limit(limit).offset(offset)))


def articles_of_sessions(session: Session, knowledge_session_ids: list[int]) -> list[KbArticle]:
    """Return the articles written during the given knowledge-transfer sessions."""
    if not knowledge_session_ids:
        return []
    return list(
        session.scalars(
            select(KbArticle)
            .where(KbArticle.knowledge_session_id.in_(knowledge_session_ids))
            .order_by(KbArticle.id)
        )
    )
