"""The terminal sandbox drives the real bot through the double."""

from __future__ import annotations

import re
from pathlib import Path

from bot.sandbox import start_sandbox, stop_sandbox


async def test_sandbox_registers_a_resident_and_switches_personas(tmp_path: Path) -> None:
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append)
    try:
        assert "东湖社区" in out[0]
        for line in ["/start", "1", "2", "1", "1", "1", "张三", ":contact", "2", "1"]:
            assert await sandbox.handle_line(line)
        screen = "\n".join(out)
        assert "登记成功" in screen
        assert "(1) ✅ 同意并继续" in screen
        out.clear()
        await sandbox.handle_line(":in group")
        await sandbox.handle_line("/report")
        assert "业主群" in "\n".join(out) and "https://t.me/" not in "\n".join(out)
        out.clear()
        await sandbox.handle_line("1")  # a link button is explained, not pressed
        assert "t.me/community_guard_bot?start=report" in "\n".join(out)
        out.clear()
        await sandbox.handle_line(":join")
        assert "欢迎新邻居" in "\n".join(out)
        out.clear()
        await sandbox.handle_line(":bogus")
        assert ":as resident|officer|admin" in "\n".join(out)
        assert not await sandbox.handle_line(":quit")
    finally:
        await stop_sandbox(sandbox, double, polling)
    # A second start on the same database does not seed again.
    out.clear()
    sandbox, double, polling = await start_sandbox(url, out.append)
    try:
        assert "已创建演示社区" not in out[0]
        # The bot may write first to a persona who opened the chat in the earlier run.
        out.clear()
        for line in [":as officer", "/notice", "停水通知", "3", "6", "1"]:
            assert await sandbox.handle_line(line)
        screen = "\n".join(out)
        assert "[私聊 小明]" in screen and "停水通知" in screen, screen
        # The bot answers on the second run too (its inbox knows the first run's updates).
        out.clear()
        assert await sandbox.handle_line(":as resident")
        assert await sandbox.handle_line("/start")
        assert "请选择" in "\n".join(out), out
    finally:
        await stop_sandbox(sandbox, double, polling)


async def test_english_sandbox_personas_are_answered_in_english(tmp_path: Path) -> None:
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append, "en")
    try:
        out.clear()
        assert await sandbox.handle_line("/start")
        screen = "\n".join(out)
        assert "How your personal and health data is used" in screen
        assert "(1) ✅ I agree, continue" in screen
        assert "个人信息" not in screen
    finally:
        await stop_sandbox(sandbox, double, polling)


async def test_a_long_wait_runs_the_scheduler_throughout_and_is_not_downtime(
    tmp_path: Path,
) -> None:
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append, "en")
    try:
        assert await sandbox.handle_line(":wait 1h")
        out.clear()
        assert await sandbox.handle_line(":wait 2d")
        screen = "\n".join(out)
        assert re.search(r"^It is now \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\)\.$", screen, re.M)
        assert "停止运行" not in screen and "was not running" not in screen
    finally:
        await stop_sandbox(sandbox, double, polling)
