"""A case's summary is shown in the reader's language (QA: an English-speaking officer read
case cards in Chinese); cases stored before, with text only, are shown as stored."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db.models import CaseKind
from bot.services import case_text
from bot.services.cases import open_case, render_card
from messages import Catalog
from tests.support.community import SeededCommunity


def _details_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(("Details", "情况")))


async def test_summary_is_rendered_in_each_readers_language_and_old_rows_keep_their_text(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    community: SeededCommunity,
    catalog: Catalog,
) -> None:
    household = community.household("阳光花园/1栋/1单元/101")
    summary = case_text.summary_details(
        catalog, "zh-CN", "reports.case_return",
        {"names": ["张三", "李<四>"], "origin": case_text.place("440305"),
         "level": case_text.label("reports.level_high"), "arrival": "2022-03-08",
         "end": "2022-03-15", "transport": case_text.label("reports.transport_train")},
        more=["monitoring.tenant_proposal"],
    )  # fmt: skip
    async with sessionmaker.begin() as session:
        new = await open_case(
            session, clock, catalog, community_id=community.community_id, kind=CaseKind.RETURN,
            urgent=True, household_id=household, details=summary, dedup_key="t:new",
        )  # fmt: skip
        old = await open_case(
            session, clock, catalog, community_id=community.community_id, kind=CaseKind.SYMPTOM,
            urgent=True, household_id=household, details={"summary": "张三：发热 <38.5>"},
            dedup_key="t:old",
        )  # fmt: skip
        broken = await open_case(
            session, clock, catalog, community_id=community.community_id, kind=CaseKind.SYMPTOM,
            urgent=True, household_id=household, dedup_key="t:broken",
            details={"summary": "旧版本的文字", "summary_key": "reports.case_symptom",
                     "summary_params": {"name": "张三"}},
        )  # fmt: skip
    # the stored text stays in the community's language (ledger, exports)
    assert summary["summary"].startswith("张三、李<四> 从 广东省深圳市南山区（高风险地区）返回")
    async with sessionmaker() as session:
        en, _ = await render_card(session, clock, catalog, new, full=True, locale="en")
        zh, _ = await render_card(session, clock, catalog, new, full=True, locale="zh-CN")
        assert _details_line(en) == (
            "Details: 张三, 李&lt;四&gt; returned from Nanshan, Shenzhen, Guangdong "
            "(high-risk area), arrived 2022-03-08, by Train; home isolation until 2022-03-15. "
            + catalog.render("en", "monitoring.tenant_proposal")
        )
        assert _details_line(zh) == "情况：" + summary["summary"].replace("<", "&lt;").replace(
            ">", "&gt;"
        )
        for locale in ("en", "zh-CN"):
            text, _ = await render_card(session, clock, catalog, old, full=True, locale=locale)
            assert _details_line(text).endswith("张三：发热 &lt;38.5&gt;")
            text, _ = await render_card(session, clock, catalog, broken, full=True, locale=locale)
            assert _details_line(text).endswith(
                "：旧版本的文字" if locale == "zh-CN" else ": 旧版本的文字"
            )
