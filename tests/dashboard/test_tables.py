"""The dashboard's tables: translated labels and headers, and CSV that Excel opens."""

import csv
import io
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dashboard.tables import (
    CATEGORY_LABELS,
    PROCESS_KIND_LABELS,
    QUEUE_LABELS,
    TABLE_TITLES,
    MetricsTable,
    dashboard_tables,
    key_label,
    table_csv,
)
from db.models import Site
from domain.metrics import DashboardFigures, dashboard_figures, month_period
from flows.catalog import STEP_TITLES
from i18n import gettext_for

BEIJING = ZoneInfo("Asia/Shanghai")
CHINESE, ENGLISH = gettext_for("zh_CN"), gettext_for("en")


def empty_site_figures(session: Session) -> DashboardFigures:
    site = Site(code=f"T-{uuid.uuid4().hex[:6]}", name="空管理处", timezone="Asia/Shanghai")
    session.add(site)
    session.flush()
    now = datetime(2026, 4, 10, 9, tzinfo=BEIJING)
    return dashboard_figures(session, site.id, month_period(2026, 3, BEIJING), now)


def test_every_title_header_and_label_is_translated(session: Session) -> None:
    figures = empty_site_figures(session)
    chinese = dashboard_tables(figures, CHINESE, STEP_TITLES)
    english = dashboard_tables(figures, ENGLISH, STEP_TITLES)

    assert set(chinese) == set(MetricsTable)
    for name in MetricsTable:
        assert chinese[name].title != english[name].title == TABLE_TITLES[name]
        untranslated = set(chinese[name].headers) & set(english[name].headers)
        assert not untranslated, (name, untranslated)
    for msgid in [*PROCESS_KIND_LABELS.values(), *QUEUE_LABELS.values(),
                  *CATEGORY_LABELS.values()]:  # fmt: skip
        assert CHINESE(msgid) != msgid, msgid


def test_keys_are_named_in_the_readers_language() -> None:
    assert key_label("tier:quality", CHINESE, STEP_TITLES) == "品质部"
    assert key_label("role:engineering", CHINESE, STEP_TITLES) == "待认领：工程维修"
    assert key_label("category:security", CHINESE, STEP_TITLES) == "安全秩序"
    assert key_label("step:complaint.resolution", CHINESE, STEP_TITLES) == "处理投诉"
    assert key_label("step:", ENGLISH, STEP_TITLES) == "Between steps"
    assert key_label("user:7", CHINESE, STEP_TITLES, {"user:7": "王管家"}) == "王管家"


def test_csv_starts_with_a_bom_and_the_header_row(session: Session) -> None:
    tables = dashboard_tables(empty_site_figures(session), CHINESE, STEP_TITLES)

    content = table_csv(tables[MetricsTable.COMPLAINTS])

    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["指标", "数值", "数量", "总数"]
    assert rows[1] == ["受理投诉数", "0", "", ""]
    # Nothing to divide: a dash, not a zero.
    assert rows[3][:2] == ["受理及时率", "—"]
