"""The `kefu` CLI against the running product: a front-desk complaint from a terminal."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inbox import cli
from launch.demo import DEMO_PASSWORD
from launch.embedded import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def kefu(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `kefu …` as a person at a terminal; returns the output, failing on a non-zero exit."""
    monkeypatch.setattr(cli, "CONFIG_DIR", tmp_path)
    monkeypatch.setenv("KEFU_LANG", "zh_CN")
    runner = CliRunner()

    def run(*args: str, expect_exit: int = 0) -> str:
        result = runner.invoke(cli.app, list(args))
        assert result.exit_code == expect_exit, result.output
        return result.output

    run("login", "zhangmin", "--password", DEMO_PASSWORD, "--api-url", stack.config.api_url)
    return run


def test_a_complaint_from_the_terminal(stack: Stack, kefu) -> None:  # type: ignore[no-untyped-def]
    recorded = kefu(
        "complaint", "new", "--resident", "赵女士", "--unit", "7-3-1102",
        "--phone", "13700137000", "--description", "电梯异响", "--urgency", "general",
    )  # fmt: skip
    process_id = re.search(r"process (\S+)", recorded).group(1)  # type: ignore[union-attr]
    task = stack.login("zhangmin").open_task(process_id, "complaint.first-response")

    assert f"#{task['id']}" in kefu("tasks")
    refused = kefu("complete", str(task["id"]), "-f", "response_note=", expect_exit=1)
    assert "响应说明: 不能为空" in refused
    assert "已完成" in kefu("complete", str(task["id"]), "-f", "response_note=已联系物业工程")

    stack.login("zhangmin").open_task(process_id, "complaint.resolution")
    history = kefu("process", process_id)
    assert "complaint_received" in history and "task_completed" in history and "张敏" in history


def test_wrong_password_is_refused(stack: Stack, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "CONFIG_DIR", tmp_path)
    result = CliRunner().invoke(
        cli.app, ["login", "zhangmin", "--password", "wrong", "--api-url", stack.config.api_url]
    )
    assert result.exit_code == 1
    assert "用户名或密码错误" in result.output
    assert not (tmp_path / "session.json").exists()
