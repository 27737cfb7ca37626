"""Officer commands with missing arguments get how to write them, after the role check
(R-RBAC): someone without the role is refused before any usage text."""

from __future__ import annotations

from bot.double import BotApiDouble
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, GUARD_ID, SeededCommunity


async def test_gate_poster_without_a_gate_says_how_to_write_it(
    running_bot: RunningBot, double: BotApiDouble, community: SeededCommunity
) -> None:
    admin = ChatUser(double, double.user(ADMIN_ID, "管理员"))
    usage = "用法：/gate_poster <门岗>，名称同 /gate 中显示的，例如 /gate_poster 阳光花园 南门。"
    for typed in ("/gate_poster", "/gate_poster   "):
        assert texts(await admin.send(typed)) == usage, typed
    assert texts(await admin.send("/gate_poster 北门")) == (
        "没有这个门岗（“北门”）。请使用 /gate 中显示的名称。"
    )
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    assert texts(await guard.send("/gate_poster")) == "抱歉，您没有执行此操作的权限。"
