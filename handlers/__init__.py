"""aiogram routers, one per feature; thin: parse, call a service, render a reply."""

from __future__ import annotations

from aiogram import Router


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
