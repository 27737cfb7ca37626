"""Every template in both locales renders exactly as the committed golden text.

A layout change shows up as a diff here: after an intended change run
`python -m tests.golden.update` (or pytest with `--update-goldens`) and read the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import GOLDEN_DIR, expected_goldens, write_goldens


@pytest.fixture(scope="module")
def expected(request: pytest.FixtureRequest) -> dict[Path, str]:
    if request.config.getoption("--update-goldens"):
        write_goldens()
    return expected_goldens()


def test_every_template_matches_its_golden(expected: dict[Path, str]) -> None:
    assert len(expected) > 100
    stale = {p for p in GOLDEN_DIR.glob("*/*.txt") if p not in expected}
    assert stale == set(), "golden files of templates that no longer exist"
    differing = [
        str(path.relative_to(GOLDEN_DIR))
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert differing == [], "regenerate with `python -m tests.golden.update` and review"


def test_variables_come_out_escaped(expected: dict[Path, str]) -> None:
    for path, text in expected.items():
        assert "<&" not in text and " <b>&" not in text, path
