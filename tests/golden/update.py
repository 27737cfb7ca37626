"""`python -m tests.golden.update`: rewrite tests/golden/<locale>/<key>.txt."""

from __future__ import annotations

from tests.golden import GOLDEN_DIR, write_goldens


def main() -> None:
    changed = write_goldens()
    for path in changed:
        print(path.relative_to(GOLDEN_DIR.parent.parent))
    print(f"{len(changed)} golden file(s) changed")


if __name__ == "__main__":
    main()
