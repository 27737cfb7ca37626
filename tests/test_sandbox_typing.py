"""The sandbox reads a typed number as a button only when that button exists."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import start_sandbox, stop_sandbox


async def test_a_phone_number_typed_in_the_sandbox_is_sent_as_text(tmp_path: Path) -> None:
    """The visitor's phone step has two buttons (skip, back): "13800138000" typed there
    used to be answered "no such button", so a phone could not be given at all."""
    out: list[str] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    sandbox, double, polling = await start_sandbox(url, out.append)
    try:
        for line in ["/start", "1", "2", "1", "1", "1", "张三", ":contact", "2", "1"]:
            assert await sandbox.handle_line(line)
        for line in ["/report", "2", "李四"]:
            assert await sandbox.handle_line(line)
        assert "(1) 跳过" in "\n".join(out)
        out.clear()
        assert await sandbox.handle_line("13800138000")
        assert "\n".join(out).startswith("\n[私聊 小明]\n第 3/5 步："), out
    finally:
        await stop_sandbox(sandbox, double, polling)
