"""A resident's own data over HTTP (R-PRIV, issue 11): /mydata, deletion requests with an
officer's confirmation or automatically, withdrawal of consent stopping check-ins, the
purge status for admins, and logs free of names and phones at DEBUG."""

from __future__ import annotations

import io
import json
import logging
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import (
    AuditEntry,
    Case,
    Consent,
    DataRequest,
    Delivery,
    GateEntry,
    Isolation,
    Person,
    Report,
)
from bot.double import BotApiDouble
from bot.services import retention
from scheduler import tick
from tests.conftest import SHANGHAI
from tests.support.chat import ChatUser, RunningBot, texts
from tests.support.community import ADMIN_ID, OFFICER_ID, SeededCommunity
from tests.support.isolation import seed_isolated

ROOM = "阳光花园/1栋/1单元/101"


async def _resident(
    sm: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    *,
    isolated: bool,
) -> int:
    seeded = await seed_isolated(
        sm, clock, community, telegram_id=5001, name="张三", start=date(2022, 3, 10),
        members=("张外婆",) if isolated else (), isolate_self=isolated,
    )  # fmt: skip
    async with sm.begin() as session:
        await session.execute(
            update(Person).where(Person.id == seeded.person_id).values(phone="+8613800138000")
        )
        session.add(
            Consent(telegram_user_id=5001, person_id=seeded.person_id, text_version="2026-11-v1",
                    locale="zh-CN", granted=True, purpose="personal", at=clock.now())
        )  # fmt: skip
    return seeded.person_id


async def test_mydata_sends_html_and_json_without_tipoff_authors(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    english_resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    person_id = await _resident(sessionmaker, clock, community, isolated=True)
    async with sessionmaker.begin() as session:
        informer = Person(name="李告密", phone="13999999999", created_at=clock.now())
        session.add(informer)
        await session.flush()
        tip = Report(
            community_id=community.community_id, kind="tipoff",
            household_id=community.household(ROOM), reporter_id=informer.id,
            details={"text": "李告密看见101有人回来"}, created_at=clock.now(),
        )  # fmt: skip
        session.add(tip)
        await session.flush()
        session.add(
            Case(community_id=community.community_id, kind="tipoff", status="resolved",
                 household_id=community.household(ROOM), reporter_id=informer.id,
                 report_id=tip.id, details={"summary": "李告密举报"},
                 resolution_note="已联系李告密核实", created_at=clock.now())
        )  # fmt: skip
    replies = await resident.send("/mydata")
    docs = [m for m in replies if m.document is not None]
    assert [m.caption for m in docs] == [
        "您和您家在本助手中的全部信息（HTML）。",
        "您和您家在本助手中的全部信息（JSON）。",
    ]
    page = double.file(docs[0].document["file_id"]).content.decode()  # type: ignore[index]
    data = json.loads(double.file(docs[1].document["file_id"]).content)  # type: ignore[index]
    assert data["person"]["name"] == "张三" and data["person"]["phone"] == "+8613800138000"
    assert data["household"]["room"] == "101" and data["household"]["compound"] == "阳光花园"
    assert [m["name"] for m in data["members"]] == ["张三", "张外婆"]
    assert [(c["purpose"], c["granted"]) for c in data["consents"]] == [("personal", True)]
    assert len(data["isolations"]) == 2
    assert data["isolations"][0]["start_date"] == "2022-03-10"
    # The tip-off is listed (something is held about the household) but not its author,
    # its words, the case summary or the staff's note.
    tipoffs = [r for r in data["reports"] if r["kind"] == "tipoff"]
    assert tipoffs == [{**tipoffs[0], "details": {}, "made_by_household": False}]
    assert [(c["kind"], c["summary"]) for c in data["cases"]] == [("tipoff", "")]
    for text in (page, json.dumps(data, ensure_ascii=False)):
        assert "李告密" not in text and "13999999999" not in text
    assert "<h2>家庭成员</h2>" in page and "张外婆" in page
    async with sessionmaker() as session:
        read = await session.scalar(select(AuditEntry).where(AuditEntry.action == "read.mydata"))
    assert read is not None and read.entity_id == person_id and read.actor_telegram_id == 5001

    replies = await english_resident.send("/mydata")
    assert [m.content for m in replies] == [
        "You are not registered: this assistant holds no personal data about you."
    ]


async def test_deletion_waits_for_the_isolation_then_happens_automatically(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    person_id = await _resident(sessionmaker, clock, community, isolated=True)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer.send("/help")  # the officer has talked to the bot before
    replies = await resident.send("/forgetme")
    assert replies[0].content == (
        "确定要申请删除您（以及由您代报的家庭成员）的信息吗？\n"
        "如有正在进行的居家隔离或未办结的事件，删除会在其结束后进行。"
    )
    replies = await resident.press("确定删除")
    assert texts(replies) == (
        "已收到您的删除申请（编号 1）。\n"
        "目前有正在进行的居家隔离，按规定需在其结束后才能删除。\n"
        "社区工作人员确认后即删除；如无人处理，7 天后自动删除。删除完成后会通知您。"
    )
    await running_bot.drain()
    card = officer.last()
    assert card.content == (
        "个人信息删除申请 #1\n住址：阳光花园 1栋 1单元 101\n"
        "暂不能删除：居家隔离进行中 \n确认后立即删除；无人处理则 7 天后自动删除。"
    )
    replies = await officer.press("确认删除", card)
    # The card was queued in the community's language; the answer is in the officer's.
    assert replies[-1].content == (
        "Request #1 cannot be carried out yet (isolation or case still open); "
        "it will be done automatically when they end."
    )
    # A week later the isolation is still active (and missed check-ins opened a case):
    # the resident is told it waits.
    clock.advance(timedelta(days=7, hours=1))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert resident.last().content == (
        "您的删除申请（编号 1）需等居家隔离结束、相关事件办结后进行，届时会自动删除并通知您。"
    )
    async with sessionmaker.begin() as session:
        await session.execute(update(Isolation).values(status="released", ended_at=clock.now()))
        await session.execute(update(Case).values(status="resolved", resolved_at=clock.now()))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    assert resident.last().content == (
        "您的个人信息删除申请（编号 1）已完成：您和由您代报的家庭成员的信息已删除。"
        "如需再次使用，请发送 /start 重新登记。"
    )
    async with sessionmaker() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        assert (person.name, person.phone, person.telegram_user_id, person.household_id) == (
            "", None, None, None
        )  # fmt: skip
        assert (await session.scalars(select(Isolation))).all() == []
        req = await session.get(DataRequest, 1)
        assert req is not None and (req.status, req.outcome) == ("done", "erased")
        erased = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "privacy.erase")
        )
        assert erased is not None and erased.details["automatic"] is True
        assert erased.details["counts"]["isolations"] == 2


async def test_officer_confirms_a_deletion_and_another_declines(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    person_id = await _resident(sessionmaker, clock, community, isolated=False)
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    await admin.send("/help")
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer.send("/help")  # the officer has talked to the bot before
    await resident.send("/forgetme")
    replies = await resident.press("确定删除")
    assert "编号 1" in texts(replies) and "目前" not in texts(replies)
    # Asking twice gives the same request.
    await resident.send("/forgetme")
    replies = await resident.press("确定删除")
    assert texts(replies) == "您已有一件待处理的申请（编号 1），删除完成后会通知您。"
    await running_bot.drain()
    card = admin.last()
    # A resident pressing a forged officer button is refused.
    from bot.presentation.callbacks import PrivacyDecision

    await resident.press_data(
        PrivacyDecision(request_id=1, confirm=True).pack(), card, strict=False
    )
    assert "权限" in (resident.answer_of_last_press() or "")
    replies = await admin.press("确认删除", card)
    assert replies[-1].content == "Request #1: the data is deleted and the resident told."
    replies = await officer.press_data(
        PrivacyDecision(request_id=1, confirm=False).pack(), officer.last(), strict=False
    )
    assert officer.answer_of_last_press() == "Request #1 has already been handled."
    await running_bot.drain()
    assert resident.last().content.startswith("您的个人信息删除申请（编号 1）已完成")
    async with sessionmaker() as session:
        person = await session.get(Person, person_id)
        assert person is not None and person.name == "" and person.phone is None
        assert (await session.scalars(select(Consent))).all() == []


async def test_withdrawal_stops_the_households_checkins_and_tells_officers(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await _resident(sessionmaker, clock, community, isolated=True)
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer.send("/help")  # the officer has talked to the bot before
    clock.set(datetime(2022, 3, 10, 8, 0, tzinfo=SHANGHAI))
    await resident.send("/withdraw")
    replies = await resident.press("确定撤回")
    assert texts(replies).startswith("已收到您的撤回同意申请（编号 1）。")
    await running_bot.drain()
    assert officer.last().content == (
        "个人信息撤回同意 #1\n住址：阳光花园 1栋 1单元 101\n"
        "该户的每日健康打卡已停止，如仍在隔离请电话跟进。\n"
        "暂不能删除：居家隔离进行中 \n确认后立即删除；无人处理则 7 天后自动删除。"
    )
    clock.set(datetime(2022, 3, 10, 9, 1, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    clock.set(datetime(2022, 3, 10, 18, 5, tzinfo=SHANGHAI))
    await tick(running_bot.application.job_context())
    await running_bot.drain()
    async with sessionmaker() as session:
        to_resident = (
            await session.scalars(select(Delivery.kind).where(Delivery.chat_id == resident.id))
        ).all()
        consents = (await session.scalars(select(Consent).where(Consent.granted.is_(False)))).all()
    assert [k for k in to_resident if k.startswith("checkin")] == []
    assert sorted(c.purpose for c in consents) == ["health", "personal"]


async def test_admin_sees_the_last_purge(
    running_bot: RunningBot,
    double: BotApiDouble,
    resident: ChatUser,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        session.add(
            GateEntry(compound_id=community.compound_ids["幸福里"], direction="in",
                      subject_kind="visitor", name="旧访客", at=clock.now() - timedelta(days=200))
        )  # fmt: skip
    await retention.purge(sessionmaker, clock, running_bot.settings)
    admin = ChatUser(double, double.user(ADMIN_ID, "社区管理员", language_code="en"))
    replies = await admin.send("/privacy")
    assert texts(replies) == (
        "My personal data\n"
        "This assistant keeps your address, name, phone, household members, and your reports, "
        "isolation check-ins and gate passages, only for the community's epidemic prevention.\n"
        "They are deleted or anonymised 180 days after their purpose ends (isolation released, "
        "case closed, …).\n\n"
        "/mydata download everything about me and my household (HTML and JSON)\n"
        "/forgetme ask for my data to be deleted\n"
        "/withdraw withdraw my consent (processing stops, then deletion)\n\n"
        "Data purge (admins)\n"
        "Retention: 180 days; sent messages 30 days; unfinished drafts 7 days; "
        "audit log 365 days.\n"
        "Last purge: 2022-03-10 09:00, 1 row\n"
        "• gate_entries: 1\n"
        "Open deletion requests: 0"
    )
    replies = await resident.send("/privacy")
    assert "数据清理" not in texts(replies) and "/mydata" in texts(replies)


async def test_debug_logs_carry_no_names_or_phones(
    running_bot: RunningBot,
    resident: ChatUser,
    community: SeededCommunity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await resident.send("/start")
    await resident.press("同意")
    await resident.press("阳光花园")
    await resident.press("1栋")
    await resident.press("1单元")
    await resident.press("101")
    await resident.send("欧阳娜娜")
    await resident.share_contact("8613912345678")
    await resident.press("添加家庭成员")
    await resident.send("欧阳奶奶")
    await resident.press("祖父母")
    await resident.press("没有了")
    replies = await resident.press("确认提交")
    assert "登记成功" in texts(replies)
    await resident.send("/mydata")
    await resident.send("/profile")
    ours = [r for r in caplog.records if not r.name.startswith("bot.double")]
    assert len(ours) > 0
    captured = (
        "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
        + io.StringIO(caplog.text).getvalue()
    )
    for secret in ("欧阳娜娜", "欧阳奶奶", "13912345678", "8613912345678"):
        assert secret not in captured


async def test_staff_reading_cases_is_audited(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    async with sessionmaker.begin() as session:
        case = Case(community_id=community.community_id, kind="fever", status="open",
                    details={"summary": "38.6 °C"}, created_at=clock.now())  # fmt: skip
        session.add(case)
        await session.flush()
        case_id = case.id
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer.send("/cases")
    async with sessionmaker() as session:
        read = await session.scalar(select(AuditEntry).where(AuditEntry.action == "read.cases"))
    assert read is not None and read.actor_telegram_id == OFFICER_ID
    assert read.details == {"case_ids": [case_id], "page": 1}
    # one case's card, by /case N or a button of the list, is a read of that case
    await officer.send(f"/case {case_id}")
    await officer.press(f"#{case_id} ", officer.double.messages(OFFICER_ID)[0])
    async with sessionmaker() as session:
        reads = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "case.read"))
        )
    assert [(r.entity_id, r.actor_telegram_id) for r in reads] == [(case_id, OFFICER_ID)] * 2


async def test_staff_reading_isolations_is_audited(
    running_bot: RunningBot,
    double: BotApiDouble,
    community: SeededCommunity,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    seeded = await seed_isolated(
        sessionmaker, clock, community, telegram_id=None, name="赵隔离", start=date(2022, 3, 10)
    )
    officer = ChatUser(double, double.user(OFFICER_ID, "王干事", language_code="en"))
    await officer.send("/isolations")
    await officer.send(f"/isolation {seeded.person_id}")
    async with sessionmaker() as session:
        reads = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("read.%")).order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.action, r.actor_telegram_id) for r in reads] == [
        ("read.isolations", OFFICER_ID), ("read.isolation", OFFICER_ID)
    ]  # fmt: skip
    assert reads[0].details == {"isolation_ids": [seeded.isolation_id]}
    assert reads[1].entity_id == seeded.isolation_id
