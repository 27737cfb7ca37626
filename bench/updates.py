"""Update throughput through the whole core: N private messages (/help) from N users
arrive at once; the bot polls the Bot API double (no rate limits), handles them as
tasks and answers each. Prints the wall time and updates per second. With issue 9's
core each update is stored in the inbox, marked done in its transaction, and its reply
passes the commit barrier; run this on an older checkout to compare.

    python -m bench.updates              # 500 updates, SQLite in a temporary folder
    python -m bench.updates --updates 2000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bot.app import Application
from bot.double import BotApiDouble, RateLimits
from bot.settings import Settings

TOKEN = "123456:BENCH-TOKEN-community-guard"


async def main(updates: int) -> None:
    double = BotApiDouble(token=TOKEN, rate_limits=RateLimits(enabled=False))
    await double.serve()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=SecretStr(TOKEN),
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
            telegram_api_base=double.base_url,
        )
        app = await Application.create(settings, migrate=True)
        polling = asyncio.create_task(app.run_polling(polling_timeout=1))
        await double.wait_for(lambda c: c.method.lower() == "getupdates", since=0, timeout=30)
        users = [double.user(100_000 + i, f"U{i}", language_code="en") for i in range(updates)]
        mark = double.mark()
        started = time.perf_counter()
        for user in users:
            double.send_text(user, "/help")

        def answered() -> bool:
            return (
                sum(1 for c in double.calls if c.seq >= mark and c.method == "sendMessage")
                >= updates
            )

        await double.wait_until(answered, 600)
        elapsed = time.perf_counter() - started
        print(f"{updates} updates answered in {elapsed:.2f} s: {updates / elapsed:.0f} updates/s")
        stop = getattr(app, "request_stop", None)
        if stop is not None:
            stop()
        else:
            await app.dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=30)
        await app.close()
    await double.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=500)
    asyncio.run(main(parser.parse_args().updates))
