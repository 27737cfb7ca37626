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

    Routers are created at import and can be attached to one Dispatcher only, so each
    application gets copies (tests build several; re-importing the modules per
    application cost about a second each).
    """
    import importlib

    names = [
        "where", "common", "myid", "privacy", "gate", "rounds", "registration", "profile",
        "households", "groups", "reports", "report_steps", "cases", "admin", "checkin",
        "isolation_admin", "monitoring", "notices", "ledger", "coverage", "audit", "charts",
        "downtime", "sealing", "supplies", "care", "rosters", "fallback",
    ]  # fmt: skip
    return [_copy(importlib.import_module(f"handlers.{name}").router) for name in names]


def _copy(router: Router) -> Router:
    """A new router with the same handlers, filters and middlewares (shared: they are
    immutable once registered), attached to nothing."""
    copy = Router(name=router.name)
    for event, observer in router.observers.items():
        target = copy.observers[event]
        target.handlers = list(observer.handlers)
        target._handler = observer._handler  # the observer-wide filters (router.message.filter)
        for middleware in observer.middleware:
            target.middleware.register(middleware)
        for middleware in observer.outer_middleware:
            target.outer_middleware.register(middleware)
    copy.startup.handlers = list(router.startup.handlers)
    copy.shutdown.handlers = list(router.shutdown.handlers)
    for sub_router in router.sub_routers:
        copy.include_router(_copy(sub_router))
    return copy
