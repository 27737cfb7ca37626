"""Officer and admin commands (R-ADM)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="admin")
