"""The terminal sandbox drives the real bot through the double."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiogram.types import Update

from bot.double import FakeChat, FakeUser
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
        for line in [":as officer", "/notice", "停水通知", "3", "9", "1"]:
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


async def test_multi_line_messages_and_files(tmp_path: Path) -> None:
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append)
    sent: list[str] = []
    send_text = double.send_text

    def recording(user: FakeUser, text: str, chat: FakeChat | int | None = None) -> Update:
        sent.append(text)
        return send_text(user, text, chat)

    double.send_text = recording  # type: ignore[method-assign]
    try:
        # Between two lines of only """ everything is one message, sent at the end:
        # blank lines and lines looking like sandbox commands included.
        assert await sandbox.handle_line('"""')
        assert sandbox.prompt() == "... "
        for line in ["姓名,电话,楼栋,单元,房号", "", ":as officer", "张三,,1栋,1单元,101"]:
            assert await sandbox.handle_line(line)
        assert sent == []
        assert await sandbox.handle_line('"""')
        assert sent == ["姓名,电话,楼栋,单元,房号\n\n:as officer\n张三,,1栋,1单元,101"]
        assert sandbox.prompt() == "resident@private> "
        # An empty block sends nothing.
        out.clear()
        assert await sandbox.handle_line('"""')
        assert await sandbox.handle_line("   ")
        assert await sandbox.handle_line('"""')
        assert len(sent) == 1
        assert out == ['两行 """ 之间没有内容，未发送。']
        # :file sends a document with its caption; the bot reads it (no round is open).
        lab = tmp_path / "lab.csv"
        lab.write_text("姓名,楼栋,单元,房号\n张三,1栋,1单元,101\n", encoding="utf-8")
        await sandbox.handle_line(":as officer")
        out.clear()
        assert await sandbox.handle_line(f":file {lab} /round_positives")
        assert out == ["\n[私聊 王干事]\n目前没有进行中的核酸轮次。"]
        out.clear()
        assert await sandbox.handle_line(":file /no/such/file.csv")
        assert out == [
            "找不到文件“/no/such/file.csv”。"
            "请输入如 :file data/lab.csv（本机上的路径），后面可以加说明文字。"
        ]
        out.clear()
        assert await sandbox.handle_line(":help")
        assert '"""' in out[0] and ":file" in out[0]
    finally:
        await stop_sandbox(sandbox, double, polling)


async def test_the_clock_moved_by_wait_survives_a_restart(tmp_path: Path) -> None:
    out: list[str] = []
    database = tmp_path / "sandbox.db"
    url = f"sqlite+aiosqlite:///{database}"
    sandbox, double, polling = await start_sandbox(url, out.append, "en")
    try:
        assert await sandbox.handle_line(":wait 2d")
        moved = sandbox.app.clock.now()
    finally:
        await stop_sandbox(sandbox, double, polling)
    assert (tmp_path / "sandbox.db.clock").exists()
    sandbox, double, polling = await start_sandbox(url, out.append, "en")
    try:
        # Started again: not back at the real time, at least where the last run left off.
        assert sandbox.app.clock.now() >= moved
        assert sandbox.app.clock.now() - datetime.now(UTC) > timedelta(days=1, hours=23)
    finally:
        await stop_sandbox(sandbox, double, polling)
    # A new database (the old one deleted) starts at the real time again.
    database.unlink()
    sandbox, double, polling = await start_sandbox(url, out.append, "en")
    try:
        assert sandbox.app.clock.now() - datetime.now(UTC) < timedelta(hours=1)
    finally:
        await stop_sandbox(sandbox, double, polling)


async def test_a_ticked_choice_is_shown_again_with_its_tick(tmp_path: Path) -> None:
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append)
    try:
        for line in ["/start", "1", "1", "1", "1", "1", "张三", ":contact", "2", "1"]:
            assert await sandbox.handle_line(line)
        for line in ["/report", "4", "1"]:
            assert await sandbox.handle_line(line)
        out.clear()
        assert await sandbox.handle_line("1")  # 发热: only the buttons change
        assert out[0].startswith("\n[私聊 小明]（已更新）\n第 2/4 步：有哪些症状？（可多选）")
        assert out[1:3] == ["  (1) ✅ 发热", "  (2) ▫️ 咳嗽"]
        out.clear()
        assert await sandbox.handle_line("8")  # done: the buttons removed are not reprinted
        assert "（已更新）" not in "\n".join(out)
        assert "第 3/4 步：体温多少度？" in out[0]
    finally:
        await stop_sandbox(sandbox, double, polling)
