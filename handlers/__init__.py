"""aiogram routers, one per feature; thin: parse, call a service, render a reply."""

from __future__ import annotations

from aiogram import Router

#: The form steps where a forwarded message is the content asked for, not the forwarder's
#: own answer (everywhere else forwards are refused: bot/middlewares.py
#: ForwardedMessageMiddleware): an official text forwarded as a notice, a list file
#: forwarded from a work chat for import, a prescription photo forwarded from the doctor.
ACCEPTS_FORWARDED: tuple[str, ...] = (
    "Compose:content",  # notices.py
    "MonitorFlow:import_file",  # monitoring.py, /monitor import
    "RoundInput:positives",  # rounds.py, /round_positives
    "SupplyFlow:photo",  # supplies.py, the prescription photo
)


def get_routers() -> list[Router]:
    """All routers in the order they are tried; the fallback router comes last.

    Routers are created at import and can be attached to one Dispatcher only, so a
    fresh import is made for each application (tests build several).
    """
    import importlib
    import sys

    names = [
        "where", "common", "myid", "privacy", "gate", "rounds", "registration", "profile",
        "households", "groups", "reports", "report_steps", "cases", "admin", "checkin",
        "isolation_admin", "monitoring", "notices", "ledger", "coverage", "audit", "charts",
        "downtime", "sealing", "supplies", "care", "rosters", "fallback",
    ]  # fmt: skip
    routers = []
    for name in names:
        module_name = f"handlers.{name}"
        if module_name in sys.modules:
            module = importlib.reload(sys.modules[module_name])
        else:
            module = importlib.import_module(module_name)
        routers.append(module.router)
    return routers
