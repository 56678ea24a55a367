"""Who may read the dashboard, and which sites' figures."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Role, Site, User
from db.models.people import MANAGING_ROLES
from domain.errors import Forbidden, NotFound

# Who may read the dashboard, and who reads every site's (the quality department and the
# operations admins work company-wide).
METRICS_READERS = frozenset({*MANAGING_ROLES, Role.QUALITY})
COMPANY_WIDE_READERS = frozenset({Role.QUALITY, Role.OPS_ADMIN})


def may_read_metrics(user: User) -> bool:
    """Return whether the user may read the dashboard (shift leads and up, quality, ops)."""
    return user.has_role(*METRICS_READERS)


def metrics_sites(session: Session, user: User) -> list[int]:
    """Return the sites whose figures `user` may read; refuse those who may read none."""
    if not may_read_metrics(user):
        raise Forbidden(
            "Only shift leads, supervisors, site managers, quality and ops can read the dashboard"
        )
    if user.has_role(*COMPANY_WIDE_READERS):
        return list(session.scalars(select(Site.id).order_by(Site.id)))
    return [user.site_id]


def require_site(session: Session, user: User, site_id: int) -> list[int]:
    """Refuse unless `user` may read `site_id`; return every site they may read."""
    sites = metrics_sites(session, user)
    if site_id not in sites:
        if session.get(Site, site_id) is None:
            raise NotFound("Site {site_id} does not exist", site_id=site_id)
        raise Forbidden("You can read the dashboard of your own site only")
    return sites
