"""Deprecated: moved to `bot.presentation.callbacks`; kept so parallel branches merge."""

from bot.presentation.callbacks import *  # noqa: F403
