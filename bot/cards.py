"""Deprecated: moved to `bot.presentation.cards`; kept so parallel branches merge."""

from bot.presentation.cards import *  # noqa: F403
