"""Forms of the resignation process: the notice, each human step's decision, and KB articles."""

from collections import Counter
from datetime import date
from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from db.models.resignation import HandoverCategory, SessionFormat
from domain.validation import VisibleText, field_error
from forms.complaint import StrictForm
from rules.resignation import MAX_FOLLOW_UP_DAYS

MAX_ITEMS = 200
MAX_SESSIONS = 30
MAX_TAGS = 10
TAG_MAX_CHARS = 40


class ResignationCreate(StrictForm):
    """A resignation notice, recorded by the employee themselves or by HR on their behalf."""

    leaver_id: int | None = Field(
        default=None, title="Leaver", description="Leave empty to record your own resignation"
    )
    last_working_day: date = Field(title="Last working day")
    reason: str = Field(default="", max_length=2000, title="Reason")


class KbArticleCreate(StrictForm):
    """A knowledge-base article: a procedure or a lesson learned."""

    title: VisibleText = Field(min_length=1, max_length=200, title="Title")
    body: VisibleText = Field(min_length=1, max_length=20000, title="Body")
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, title="Tags")

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(tag.strip().lower() for tag in tags if tag.strip()))
        if any(len(tag) > TAG_MAX_CHARS for tag in cleaned):
            raise ValueError(f"tags: A tag has at most {TAG_MAX_CHARS} characters")
        return cleaned


class HandoverPlanDecision(StrictForm):
    """The supervisor's handover plan: who takes over, when, and who watches the handover."""

    successor_id: int = Field(title="Successor")
    supervisor_id: int = Field(
        title="Supervising person", description="Watches the handover and evaluates it afterwards"
    )
    handover_starts_on: date = Field(title="Handover starts on")
    handover_ends_on: date = Field(title="Handover ends on")
    follow_up_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FOLLOW_UP_DAYS,
        title="Follow-up period (days)",
        description="Days after the last working day before the follow-up evaluation; "
        "empty for the standard period",
    )
    note: str = Field(default="", max_length=2000, title="Note")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.handover_ends_on < self.handover_starts_on:
            raise ValueError("handover_ends_on: The handover cannot end before it starts")
        return self


class HandoverItemDraft(StrictForm):
    """One thing the leaver hands over."""

    category: HandoverCategory = Field(title="Category")
    description: VisibleText = Field(min_length=1, max_length=2000, title="Description")
    location: str = Field(default="", max_length=200, title="Where it is")


class KnowledgeSessionDraft(StrictForm):
    """A knowledge-transfer session the leaver will give."""

    topic: VisibleText = Field(min_length=1, max_length=200, title="Topic")
    format: SessionFormat = Field(title="Format")
    scheduled_on: date = Field(title="Scheduled on")


class InventoryDecision(StrictForm):
    """The leaver's inventory: the handover checklist and the knowledge-transfer sessions."""

    items: list[HandoverItemDraft] = Field(min_length=1, max_length=MAX_ITEMS, title="Items")
    sessions: list[KnowledgeSessionDraft] = Field(
        min_length=1, max_length=MAX_SESSIONS, title="Knowledge-transfer sessions"
    )


def check_listed_items(item_ids: list[int], info: ValidationInfo) -> None:
    """Refuse an item decided twice and, against the task's listed items, unknown or missing ones.

    The inbox validates a decision with its task's context, whose `items` are the checklist
    items the round put before the person; without that context only repeats are refused.
    """
    repeated = sorted(i for i, count in Counter(item_ids).items() if count > 1)
    if repeated:
        raise field_error("item_repeated", items=_ids(repeated))
    listed: list[dict[str, Any]] | None = (info.context or {}).get("items")
    if listed is None:
        return
    names = {entry["item_id"]: entry["description"] for entry in listed}
    unknown = [i for i in item_ids if i not in names]
    if unknown:
        raise field_error("item_unknown", items=_ids(unknown))
    missing = [f"#{i} {name}" for i, name in names.items() if i not in item_ids]
    if missing:
        raise field_error("item_missing", items=", ".join(missing))


def _ids(item_ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in item_ids)


class ItemVerdict(StrictForm):
    """The successor's verdict on one handover item."""

    item_id: int = Field(title="Item")
    verdict: Literal["accept", "dispute"] = Field(title="Verdict")
    reason: str = Field(default="", max_length=2000, title="Reason")

    @model_validator(mode="after")
    def _dispute_has_reason(self) -> Self:
        if self.verdict == "dispute" and not self.reason:
            raise ValueError("reason: A dispute needs a reason")
        return self


class ItemConfirmationDecision(StrictForm):
    """The successor's verdict on each item the round lists, exactly one per item."""

    verdicts: list[ItemVerdict] = Field(min_length=1, max_length=MAX_ITEMS, title="Verdicts")

    @field_validator("verdicts")
    @classmethod
    def _one_verdict_per_item(
        cls, verdicts: list[ItemVerdict], info: ValidationInfo
    ) -> list[ItemVerdict]:
        check_listed_items([v.item_id for v in verdicts], info)
        return verdicts


class ItemResolution(StrictForm):
    """The supervisor's decision on one disputed item."""

    item_id: int = Field(title="Item")
    outcome: Literal["resolved", "reconfirm"] = Field(
        title="Outcome",
        description="resolved: settled, counts as handed over; "
        "reconfirm: the successor confirms it again",
    )
    resolution: VisibleText = Field(min_length=1, max_length=2000, title="Resolution")


class DisputeResolutionDecision(StrictForm):
    """The supervisor's decision on each disputed item the round lists, exactly one per item."""

    resolutions: list[ItemResolution] = Field(
        min_length=1, max_length=MAX_ITEMS, title="Resolutions"
    )

    @field_validator("resolutions")
    @classmethod
    def _one_resolution_per_item(
        cls, resolutions: list[ItemResolution], info: ValidationInfo
    ) -> list[ItemResolution]:
        check_listed_items([r.item_id for r in resolutions], info)
        return resolutions


class SessionHeldDecision(StrictForm):
    """The leaver reports a knowledge-transfer session and writes down the key procedures."""

    summary: VisibleText = Field(min_length=1, max_length=4000, title="What was covered")
    kb_articles: list[KbArticleCreate] = Field(
        default_factory=list, max_length=MAX_SESSIONS, title="Knowledge-base articles"
    )


class SessionConfirmationDecision(StrictForm):
    """The successor confirms the session, or asks for it again."""

    outcome: Literal["confirmed", "repeat"] = Field(title="Outcome")
    comment: str = Field(default="", max_length=2000, title="Comment")

    @model_validator(mode="after")
    def _repeat_has_reason(self) -> Self:
        if self.outcome == "repeat" and not self.comment:
            raise ValueError("comment: Say what needs to be covered again")
        return self


class FollowUpEvaluationDecision(StrictForm):
    """The supervisor's evaluation after the follow-up period."""

    handover_effect: Literal["good", "adequate", "poor"] = Field(title="Handover effect")
    problems_found: str = Field(default="", max_length=4000, title="Problems found")
    actions_taken: str = Field(default="", max_length=4000, title="Actions taken")
    successor_assessment: Literal["competent", "needs_coaching", "not_suitable"] = Field(
        title="Successor assessment"
    )
    comment: str = Field(default="", max_length=4000, title="Comment")

    @model_validator(mode="after")
    def _poor_names_problems(self) -> Self:
        if self.handover_effect == "poor" and not self.problems_found:
            raise ValueError("problems_found: Name the problems of a poor handover")
        return self
