"""Cases in the officers' chat (R-ESC)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="cases")
