"""The knowledge base: search and read articles (everyone), write one (any colleague)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from db.models import KbArticle, User
from domain import knowledge
from forms.resignation import KbArticleCreate
from inbox.api.deps import ClockDep, CurrentUser, SessionDep

router = APIRouter(prefix="/knowledge", tags=["knowledge"])

EXCERPT_CHARS = 160


class KbArticleSummary(BaseModel):
    id: int
    title: str
    tags: list[str]
    author_name: str
    excerpt: str
    created_at: datetime


class KbArticlePublic(BaseModel):
    id: int
    title: str
    body: str
    tags: list[str]
    author_id: int
    author_name: str
    knowledge_session_id: int | None
    created_at: datetime
    updated_at: datetime


def _author(session: Session, article: KbArticle) -> str:
    return session.get_one(User, article.author_id).display_name


def article_public(session: Session, article: KbArticle) -> KbArticlePublic:
    """Return the API view of an article."""
    return KbArticlePublic(
        id=article.id,
        title=article.title,
        body=article.body,
        tags=article.tags,
        author_id=article.author_id,
        author_name=_author(session, article),
        knowledge_session_id=article.knowledge_session_id,
        created_at=article.created_at,
        updated_at=article.updated_at,
    )


@router.get("", response_model=list[KbArticleSummary])
def search(
    session: SessionDep,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=200, description="Words to find")] = "",
    tag: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = knowledge.DEFAULT_SEARCH_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[KbArticleSummary]:
    """Search the knowledge base by words (title, body, tags) and by tag, newest first."""
    return [
        KbArticleSummary(
            id=a.id,
            title=a.title,
            tags=a.tags,
            author_name=_author(session, a),
            excerpt=a.body[:EXCERPT_CHARS],
            created_at=a.created_at,
        )
        for a in knowledge.search_articles(session, q, tag, limit, offset)
    ]


@router.get("/{article_id}", response_model=KbArticlePublic)
def read(article_id: int, session: SessionDep, user: CurrentUser) -> KbArticlePublic:
    """Read one article."""
    return article_public(session, knowledge.get_article(session, article_id))


@router.post("", response_model=KbArticlePublic, status_code=status.HTTP_201_CREATED)
def write(
    draft: KbArticleCreate, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> KbArticlePublic:
    """Write an article; the caller is its author."""
    author = session.get_one(User, user.id)
    return article_public(session, knowledge.write_article(session, author, draft, clock()))
