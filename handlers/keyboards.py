"""Deprecated: moved to `bot.presentation.keyboards`; kept so parallel branches merge."""

from bot.presentation.keyboards import *  # noqa: F403
from bot.presentation.keyboards import PAGE_SIZE  # noqa: F401
