"""The gate register end to end over HTTP (R-GATE): guard flow, fever and risk cases,
the QR poster's deep link, forged tokens and buttons."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import segno
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Case, Gate, GateEntry, RiskArea
from bot.double import BotApiDouble
from bot.presentation.callbacks import GateCb, GateSelfCb
from bot.services import case_text, gate_poster
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import GUARD_ID, OFFICER_ID, SeededCommunity
from tests.support.ledger_rows import add_person


async def _add_gate(officer: ChatUser, sessionmaker: async_sessionmaker[AsyncSession]) -> Gate:
    replies = await officer.send("/gate_add 阳光花园 南门")
    assert "已添加门岗" in texts(replies)
    async with sessionmaker() as session:
        found = await session.scalar(select(Gate).where(Gate.name == "南门"))
        assert found is not None and len(found.token) == 16
        return found


async def test_guard_records_visitor_with_fever_from_risk_area(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: object,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    await _add_gate(officer, sessionmaker)
    replies = await officer.send("/gate_add 阳光花园 南门")
    assert "已有" in texts(replies)
    replies = await officer.send("/gate_add 月亮湾 北门")
    assert "月亮湾" in texts(replies)
    async with sessionmaker.begin() as session:
        session.add(
            RiskArea(
                community_id=community.community_id, place_code="420100", place_name="武汉市",
                level="high", valid_from=date(2022, 3, 1),
                added_at=datetime(2022, 3, 1, tzinfo=UTC),
            )
        )  # fmt: skip

    await guard.send("/gate")
    await guard.press("阳光花园 南门")
    await guard.press("进")
    await guard.press("访客")
    replies = await guard.send("<b>李四</b>")
    assert "从哪里来" in texts(replies)
    replies = await guard.send("火星")
    assert "无法识别" in texts(replies)
    replies = await guard.send("武汉")
    assert "体温" in texts(replies)
    replies = await guard.send("四十五度")
    assert "34" in texts(replies)
    replies = await guard.send("38.2")
    text = texts(replies)
    assert "已登记" in text and "紧急" in text and "风险地区" in text
    # The name is data: escaped, never markup.
    assert "&lt;b&gt;李四" in (replies[0].raw_text or "")
    async with sessionmaker() as session:
        entry = await session.scalar(select(GateEntry))
        assert entry is not None and entry.origin_code and entry.origin_code.startswith("4201")
        assert entry.subject_kind == "visitor" and str(entry.temperature) == "38.2"
        kinds = sorted((c.kind, c.urgent) for c in await session.scalars(select(Case)))
        assert kinds == [("gate_fever", True), ("gate_risk", False)]
        risk = await session.scalar(select(Case).where(Case.kind == "gate_risk"))
        # In the community's language: the place's name and 高风险地区, never "(high)".
        assert risk is not None
        assert risk.details["summary"] == "<b>李四</b> ← 湖北省武汉市（高风险地区）@ 阳光花园 南门"
        # ... and in an English reader's (key + params: the place named by its code)
        assert (
            case_text.summary_text(running_bot.catalog, "en", risk.details)
            == "<b>李四</b> ← Wuhan, Hubei (high-risk area) @ 阳光花园 南门"
        )

    # Vehicle: plate validated, normal temperature raises nothing.
    await guard.press("继续登记")
    await guard.press("出")
    await guard.press("车辆")
    replies = await guard.send("ABC123")
    assert "车牌号格式不对" in texts(replies)
    await guard.send("鄂a·12345")
    replies = await guard.send("36.5")
    assert "鄂A12345" in texts(replies) and "紧急" not in texts(replies)

    # Resident by name search
    async with sessionmaker.begin() as session:
        await add_person(
            session,
            "赵六",
            community.household("阳光花园/1栋/1单元/101"),
            clock.now(),  # type: ignore[attr-defined]
        )
    await guard.press("继续登记")
    await guard.press("进")
    await guard.press("居民")
    replies = await guard.send("钱七")
    assert "没有" in texts(replies)
    await guard.send("赵")
    await guard.press("赵六 1栋 1单元 101")
    replies = await guard.send("36.6")
    assert "赵六" in texts(replies)
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(GateEntry)))) == 3


async def test_residents_and_forged_buttons_cannot_use_the_gate_flow(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    found = await _add_gate(officer, sessionmaker)
    for command in ("/gate", "/gate_add 阳光花园 东门", "/gate_poster 南门"):
        replies = await resident.send(command)
        assert "权限" in texts(replies), command
    await resident.send("/help")
    msg = resident.last()
    await resident.press_data(GateCb(action="gate", value=found.id).pack(), msg, strict=False)
    assert "权限" in (resident.answer_of_last_press() or "")
    guard = ChatUser(double, double.user(GUARD_ID, "张门卫"))
    await guard.send("/gate")
    # Skipping steps: a direction with no gate chosen, a bogus kind.
    await guard.press_data(GateCb(action="kind", value=7).pack(), guard.last(), strict=False)
    assert guard.answer_of_last_press()
    await guard.press_data(GateCb(action="gate", value=99999).pack(), guard.last(), strict=False)
    assert guard.answer_of_last_press()


async def test_qr_poster_and_deep_link_self_record(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: object,
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    found = await _add_gate(officer, sessionmaker)
    replies = await officer.send("/gate_poster 阳光花园 南门")
    docs = [m for m in replies if m.document]
    assert [d.document["file_name"] for d in docs] == [  # type: ignore[index]
        f"gate-{found.id}.png",
        f"gate-{found.id}.pdf",
    ]
    png = double.file(docs[0].document["file_id"]).content  # type: ignore[index]
    assert Image.open(io.BytesIO(png)).size == gate_poster.A4_150DPI
    assert double.file(docs[1].document["file_id"]).content.startswith(b"%PDF")  # type: ignore[index]
    username = running_bot.application.bot_username
    url = gate_poster.deep_link(username, found.token)
    assert url == f"https://t.me/{username}?start=gate_{found.token}"
    assert gate_poster.qr_code(url).matrix == segno.make(url, error="m", micro=False).matrix
    replies = await officer.send("/gate_poster 不存在")
    assert "没有这个门岗" in texts(replies)

    # An unregistered resident scanning is asked to register first.
    replies = await resident.send(f"/start gate_{found.token}")
    assert "先登记" in texts(replies)
    async with sessionmaker.begin() as session:
        await add_person(
            session, "小明", community.household("阳光花园/1栋/1单元/102"),
            clock.now(), tg=resident.id,  # type: ignore[attr-defined]
        )  # fmt: skip
    replies = await resident.send(f"/start gate_{found.token}")
    assert "进入还是离开" in texts(replies)
    replies = await resident.press("进")
    # The seed: "every entry is temperature-checked and registered".
    assert texts(replies[-1:]) == (
        "阳光花园 南门：⬅️ 进。请输入您的体温（例如 36.5），或点下面的按钮由门岗测温。"
    )
    replies = await resident.send("36.6")
    assert texts(replies) == "✅ 已登记：阳光花园 南门 ⬅️ 进。谢谢！\n体温 36.6℃。"
    async with sessionmaker() as session:
        entry = await session.scalar(select(GateEntry))
        assert entry is not None and entry.self_recorded and entry.subject_kind == "resident"
        assert entry.household_id == community.household("阳光花园/1栋/1单元/102")
        assert str(entry.temperature) == "36.6"
    # Or the guard takes it: recorded without a temperature, and the resident is told.
    await resident.send(f"/start gate_{found.token}")
    await resident.press("出")
    replies = await resident.press("🌡 由门岗测温")
    assert "请让门岗为您测温。" in texts(replies)
    async with sessionmaker() as session:
        entries = list(await session.scalars(select(GateEntry).order_by(GateEntry.id)))
        assert [(e.direction, e.temperature) for e in entries] == [
            ("in", entries[0].temperature),
            ("out", None),
        ]
        await session.delete(entries[1])
        await session.commit()

    # Forged tokens: in the link and in the button.
    replies = await resident.send("/start gate_AAAAAAAAAAAAAAAA")
    assert "无效" in texts(replies)
    await resident.press_data(
        GateSelfCb(token="BBBBBBBBBBBBBBBB", direction="in").pack(), resident.last(), strict=False
    )
    assert "无效" in (resident.answer_of_last_press() or "")
    await resident.press_data(
        GateSelfCb(token=found.token, direction="sideways").pack(), resident.last(), strict=False
    )
    assert resident.answer_of_last_press()
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(GateEntry)))) == 1
    # A plain /start still opens the main menu (registration's handler).
    replies = await resident.send("/start")
    assert "请选择要办理的事项" in texts(replies)


async def test_english_guard_survives_a_restart_mid_flow(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事"))
    await _add_gate(officer, sessionmaker)
    guard = ChatUser(double, double.user(GUARD_ID, "Zhang", language_code="en"))
    replies = await guard.send("/gate")
    assert "Which gate?" in texts(replies)
    await guard.press("阳光花园 南门")
    await guard.press("Exit")
    await guard.press("Vehicle")
    replies = await guard.send("X" * 300)
    assert "not a Chinese plate" in texts(replies)
    await guard.send("京A·1234D")
    await running_bot.restart()
    replies = await guard.send("99.5°F")
    text = texts(replies)
    assert "Recorded" in text and "京A1234D" in text and "Fever" in text
    replies = await guard.send("36.5")  # the flow is over: not recorded twice
    async with sessionmaker() as session:
        entries = list(await session.scalars(select(GateEntry)))
        assert len(entries) == 1 and entries[0].direction == "out"
        assert entries[0].plate == "京A1234D" and str(entries[0].temperature) == "37.5"
        assert [c.kind for c in await session.scalars(select(Case))] == ["gate_fever"]
