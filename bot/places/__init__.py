"""Provinces, cities and districts of China with forgiving Chinese/pinyin matching."""

from bot.places.gazetteer import Gazetteer, Level, Place, is_within, normalize, strip_suffix

__all__ = ["Gazetteer", "Level", "Place", "is_within", "normalize", "strip_suffix"]
