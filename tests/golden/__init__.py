"""Golden texts: every template of every locale rendered with representative data and
compared with the committed `tests/golden/<locale>/<key>.txt`.

Regenerate after an intended change with `python -m tests.golden.update` (or
`pytest tests/test_goldens.py --update-goldens`), then read the diff.
"""

from __future__ import annotations

from pathlib import Path

from messages import LOCALES, Catalog
from tests.golden.samples import SAMPLES, VARIANTS, sample_catalog

GOLDEN_DIR = Path(__file__).parent


def render_golden(locale: str, key: str, catalogs: dict[str, Catalog]) -> str:
    """The golden text of one template: generic variants, then the explicit samples."""
    parts: list[str] = []
    for variant in VARIANTS:
        text = catalogs[variant].render(locale, key)
        parts.append(f"=== {variant} ===\n{text}\n")
    for index, params in enumerate(SAMPLES.get(key, ()), start=1):
        text = catalogs["strict"].render(locale, key, **params)
        parts.append(f"=== sample {index} ===\n{text}\n")
    return "\n".join(parts)


def all_catalogs() -> dict[str, Catalog]:
    catalogs = {variant: sample_catalog(variant) for variant in VARIANTS}
    catalogs["strict"] = Catalog()
    return catalogs


def golden_path(locale: str, key: str) -> Path:
    return GOLDEN_DIR / locale / f"{key}.txt"


def expected_goldens() -> dict[Path, str]:
    catalogs = all_catalogs()
    return {
        golden_path(locale, key): render_golden(locale, key, catalogs)
        for locale in LOCALES
        for key in catalogs["strict"].sources[locale]
    }


def write_goldens() -> list[Path]:
    """Rewrite every golden file; remove the files of templates that no longer exist.
    Returns the paths whose content changed."""
    expected = expected_goldens()
    changed = []
    for locale in LOCALES:
        for stale in (GOLDEN_DIR / locale).glob("*.txt"):
            if stale not in expected:
                stale.unlink()
                changed.append(stale)
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
