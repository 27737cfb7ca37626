"""Services do not reach up into handlers nor down into Telegram types: callback data,
keyboards and cards live in `bot.presentation`."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.services

SERVICES = Path(bot.services.__file__).parent
FORBIDDEN = ("handlers", "aiogram")


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_services_import_neither_handlers_nor_aiogram() -> None:
    offenders = sorted(
        (str(path.relative_to(SERVICES)), module)
        for path in SERVICES.rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    )
    assert len(list(SERVICES.rglob("*.py"))) > 10
    assert offenders == []


def test_presentation_does_not_import_handlers() -> None:
    package = SERVICES.parent / "presentation"
    offenders = sorted(
        (path.name, module)
        for path in package.rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] == "handlers"
    )
    assert offenders == []
