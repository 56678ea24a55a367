"""The handover figures: resignations not closed yet, and how far their checklists are confirmed."""

from datetime import datetime
from typing import Any

from pydantic import computed_field
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from db.models import Event, Process, ProcessKind
from domain.events import EventKind
from domain.metrics.figures import Figure, share
from domain.metrics.queries import RUNNING_STATES

# A settled dispute counts as confirmed (db/models/resignation.py CONFIRMED_ITEM_STATES).
SETTLED_OUTCOME = "resolved"


class HandoverProgress(Figure):
    process_id: str
    subject: str
    items: int
    confirmed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion(self) -> float | None:
        """Return the share of checklist items confirmed (None before the inventory)."""
        return share(self.confirmed, self.items)


class HandoverFigures(Figure):
    """Handovers (resignations) not closed yet, and how far their checklists are confirmed."""

    open: int
    items: int
    confirmed: int
    handovers: list[HandoverProgress]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion(self) -> float | None:
        """Return the share of all open handovers' items that are confirmed."""
        return share(self.confirmed, self.items)


def _open_handovers(site_id: int) -> Select[Any]:
    return select(Process.id, Process.subject).where(
        Process.kind == ProcessKind.RESIGNATION,
        Process.state.in_(RUNNING_STATES),
        Process.site_id == site_id,
    )


def handover_figures(session: Session, site_id: int, now: datetime) -> HandoverFigures:
    """Return the site's open handovers and the share of their checklist items confirmed."""
    handovers = session.execute(
        _open_handovers(site_id).order_by(Process.started_at, Process.id)
    ).all()
    step = aliased(Event, name="checklist")
    created = step.kind == EventKind.HANDOVER_CHECKLIST_CREATED
    accepted = step.kind == EventKind.HANDOVER_ITEM_ACCEPTED
    settled = and_(
        step.kind == EventKind.HANDOVER_DISPUTE_RESOLVED,
        step.data["outcome"].as_string() == SETTLED_OUTCOME,
    )
    progress = {
        process_id: (int(items or 0), int(confirmed or 0))
        for process_id, items, confirmed in session.execute(
            select(
                step.process_id,
                func.sum(case((created, step.data["items"].as_integer()), else_=0)),
                func.sum(case((accepted, 1), (settled, 1), else_=0)),
            )
            .where(
                step.process_id.in_(_open_handovers(site_id).with_only_columns(Process.id)),
                step.kind.in_(
                    (
                        EventKind.HANDOVER_CHECKLIST_CREATED,
                        EventKind.HANDOVER_ITEM_ACCEPTED,
                        EventKind.HANDOVER_DISPUTE_RESOLVED,
                    )
                ),
                step.at <= now,
            )
            .group_by(step.process_id)
        ).all()
    }
    rows = [
        HandoverProgress(
            process_id=process_id,
            subject=subject,
            items=progress.get(process_id, (0, 0))[0],
            confirmed=progress.get(process_id, (0, 0))[1],
        )
        for process_id, subject in handovers
    ]
    return HandoverFigures(
        open=len(rows),
        items=sum(r.items for r in rows),
        confirmed=sum(r.confirmed for r in rows),
        handovers=rows,
    )


def open_handover_ids(session: Session, site_id: int) -> list[str]:
    """Return the ids of the site's open handovers, oldest first."""
    return list(
        session.scalars(
            _open_handovers(site_id)
            .with_only_columns(Process.id)
            .order_by(Process.started_at, Process.id)
        )
    )
