"""Every template in both locales renders exactly as the committed golden text.

A layout change shows up as a diff here: after an intended change run
`python -m tests.golden.update` (or pytest with `--update-goldens`) and read the diff."""

from __future__ import annotations

import pytest

from tests.golden import GOLDEN_DIR, expected_goldens, write_goldens


def test_every_template_matches_its_golden(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--update-goldens"):
        write_goldens()
    expected = expected_goldens()
    assert len(expected) > 100
    stale = {p for p in GOLDEN_DIR.glob("*/*.txt") if p not in expected}
    assert stale == set(), "golden files of templates that no longer exist"
    differing = [
        str(path.relative_to(GOLDEN_DIR))
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert differing == [], "regenerate with `python -m tests.golden.update` and review"


def test_variables_come_out_escaped() -> None:
    for path, text in expected_goldens().items():
        assert "<&" not in text and " <b>&" not in text, path
