"""Logs never carry names, phones or health data, at any level (issue 11).

- SQL parameters are hidden on every engine (``hide_parameters=True``), so a failing
  statement's error message shows the SQL, not the values.
- SQLAlchemy's engine and pool loggers would print statements, parameters and result rows
  at INFO/DEBUG if the root logger is at DEBUG: they are capped at WARNING here.
- aiogram's own loggers and the FSM storage never log update contents or FSM data; our
  code logs ids, counts and kinds only.
"""

from __future__ import annotations

import logging

# Loggers that would print statements, bound values or result rows below WARNING.
QUIET = ("sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm", "aiosqlite", "asyncpg")


def quiet_personal_loggers() -> None:
    for name in QUIET:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
