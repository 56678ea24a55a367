"""The choices made where the source documents are silent: data with a reason, checked on load
against the settings they name, and shown on the admin rules page."""

from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI

from i18n import gettext_for
from inbox.api.app import create_app
from rules.choices import BUNDLED_CHOICES, RULES_DIR, load_choices, parse_choices
from rules.config_errors import RuleConfigError
from tests.support.web import logged_in


def test_each_choice_has_a_reason_and_names_a_setting_in_force() -> None:
    choices = {c.choice.key: c for c in load_choices()}
    first_response = choices["first-response-hours"]
    assert first_response.choice.process == "complaint"
    assert first_response.choice.reason
    assert first_response.value == "front_desk_24h"  # calendar hours, the 24-hour calendar
    assert choices["final-deadline-length"].value == 5
    assert choices["annual-draft-date"].value == {"month": 12, "day": 10}


def test_a_choice_naming_a_setting_that_does_not_exist_stops_the_load(tmp_path: Path) -> None:
    data = yaml.safe_load(BUNDLED_CHOICES.read_text(encoding="utf-8"))
    data["choices"][0]["setting"]["path"] = ["ladders", 99, "calendar"]
    data["choices"].append({**data["choices"][1]})
    with pytest.raises(RuleConfigError) as refused:
        parse_choices(data, RULES_DIR)
    assert refused.value.problems == [
        "choices.first-response-hours.setting: "
        "sla_ladders.yaml: ladders[99].calendar does not exist",
        "choices.resolution-working-days: the key is used twice",
    ]


@pytest.fixture(scope="module")
def app(demo_org: None) -> FastAPI:
    return create_app()


def test_the_admin_rules_page_shows_each_choice_with_its_reason(app: FastAPI) -> None:
    admin = logged_in(app, "admin")
    page = admin.get("/admin/rules")
    assert page.status_code == 200
    text = page.text
    assert text.count('data-testid="rule-choice"') == len(load_choices())
    assert "一般投诉 48 小时首次响应时限按自然小时还是工作小时计算？" in text
    assert "前台 24 小时有人值守" in text
    assert 'sla_ladders.yaml: ladders[1].calendar = "front_desk_24h"' in text


def test_every_choice_reads_in_chinese() -> None:
    translate = gettext_for("zh_CN")
    untranslated = [
        f"{c.choice.key}.{part}"
        for c in load_choices()
        for part in ("question", "choice", "reason")
        if translate(getattr(c.choice, part)) == getattr(c.choice, part)
    ]
    assert untranslated == []
