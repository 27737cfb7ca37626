"""The README's sample conversation is what the sandbox really prints: every stretch of
bot output it shows (between the typed lines and the "…" that mark a shortening) appears,
line for line, in the transcript of the same registration in the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

from bot.sandbox import start_sandbox, stop_sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
# The whole registration the README shows (it elides the building, unit and room steps).
INPUTS = ["/start", "1", "1", "1", "1", "1", "张三", ":contact", "2", "1"]


def sample_fragments() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## What it looks like", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    fragments: list[str] = []
    current: list[str] = []
    for line in block.group(1).splitlines():
        if line.startswith("resident@private>") or line == "…":
            fragments.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line)
    fragments.append("\n".join(current).strip("\n"))
    return [f for f in fragments if f]


async def test_the_readme_sample_is_what_the_sandbox_prints(tmp_path: Path) -> None:
    fragments = sample_fragments()
    assert len(fragments) >= 8
    out: list[str] = []
    sandbox, double, polling = await start_sandbox(
        f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}", out.append
    )
    try:
        out.clear()
        for line in INPUTS:
            assert await sandbox.handle_line(line)
    finally:
        await stop_sandbox(sandbox, double, polling)
    transcript = "\n".join(out)
    missing = [f for f in fragments if f not in transcript]
    assert not missing, f"README sample not printed by the sandbox: {missing}\n---\n{transcript}"
