"""`python -m launch`: start the product on this machine and stop it cleanly on Ctrl-C."""

import signal
import sys
from dataclasses import replace
from pathlib import Path

from config import get_settings
from db.migrate import upgrade
from db.session import transaction
from launch.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_demo
from launch.processes import ProcessGroup, port_taken
from launch.stack import StackConfig, start_api, start_mail_sink, start_prefect_server, start_runner


def main() -> int:
    """Start everything, print where it is, and wait for Ctrl-C."""
    settings = get_settings()
    if settings.environment == "production":
        sys.exit("`make up` starts a demo; in production run the services separately.")
    config = StackConfig(data_dir=settings.data_dir, database_url=settings.database_url)
    # Mail goes to the local sink unless a real server is configured.
    sink_url = f"mailto://127.0.0.1:{config.smtp_port}?from=kefu@demo.kefu.local"
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else sink_url
    config = replace(config, smtp_url=smtp_url)
    for port in (config.prefect_port, config.api_port, config.smtp_port):
        if port_taken(port):
            sys.exit(f"Port {port} is in use; stop whatever listens there and try again.")

    say(f"数据目录 data: {config.data_dir}")
    upgrade(config.database_url)
    with transaction() as session:
        seed_demo(session)

    group = ProcessGroup(log_dir=config.data_dir / "logs")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        say("启动 starting: mail sink, Prefect server (first start takes ~15 s), runner, API …")
        start_mail_sink(group, config)
        start_prefect_server(group, config)
        start_runner(group, config)
        start_api(group, config)
        print_welcome(config)
        signal.pause()
    except KeyboardInterrupt:
        say("\n正在停止 stopping …")
    finally:
        # A second Ctrl-C must not cut the shutdown short and orphan the children.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        group.stop_all()
    say("已停止 stopped. 数据保留在 data kept in " + str(config.data_dir))
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    """Treat SIGTERM (e.g. from a service manager) like Ctrl-C."""
    raise KeyboardInterrupt


def print_welcome(config: StackConfig) -> None:
    """Print the URLs and the demo logins."""
    logins = "\n".join(f"    {p.username:<10} {p.display_name:<6} {p.post}" for p in DEMO_PEOPLE)
    say(
        f"""
kefu-flow 已启动 is running.
  任务收件箱 inbox:  {config.api_url}/            (浏览器 / phone or desktop browser)
  API 文档 docs:     {config.api_url}/docs
  Prefect UI:        http://127.0.0.1:{config.prefect_port}
  邮件 mail sink:    {Path(config.data_dir) / "mail"} (Maildir)
  日志 logs:         {Path(config.data_dir) / "logs"}
  演示账号 demo logins (password 密码: {DEMO_PASSWORD}):
{logins}
  CLI: kefu login zhangmin   then   kefu --help
按 Ctrl-C 停止 / press Ctrl-C to stop."""
    )


def say(text: str) -> None:
    """Tell the person at the terminal."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
