"""Split bot/services/checkins.py (issue 9) into checkin_common / checkin_run /
checkin_answers / checkin_views, leaving checkins.py as a facade that re-exports every
name (old imports keep working).

Kept as a script, not as a commit, because several branches change checkins.py: run it
once after they are merged, then check and commit:

    .venv/bin/python tools/split_checkins.py . && .venv/bin/pytest -q tests/unit tests/conversations

Sections are found by the '# ---...--- <title>' separators (recipients, the daily run,
answering, officer views); unused imports are removed and the result formatted with ruff.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SEPARATOR = re.compile(r"^# -{20,} (.+)$")
TITLES = {
    "recipients": "common",
    "the daily run": "run",
    "answering": "answers",
    "officer views": "views",
}
ORDER = ("common", "run", "answers", "views")
DOCS = {
    "common": "Check-ins, shared pieces: constants, outbox keys, who is asked for whom.",
    "run": "Check-ins, the daily run: rows for the day, prompts, reminders, misses, releases.",
    "answers": "Check-ins, answering: who may answer what, recording an answer and after.",
    "views": "Check-ins, officer views: isolations listed and found, ended and extended.",
}


def top_names(code: str) -> list[str]:
    out: list[str] = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.append(node.name)
        elif isinstance(node, ast.Assign):
            out += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append(node.target.id)
    return out


def import_list(module: str, names: list[str]) -> str:
    return f"from bot.services.{module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def split(root: Path) -> dict[str, int]:
    src_path = root / "bot/services/checkins.py"
    src = src_path.read_text()
    if "from bot.services.checkin_common import" in src:
        sys.exit("bot/services/checkins.py is already split")
    lines = src.split("\n")
    tree = ast.parse(src)

    def is_header(node: ast.stmt) -> bool:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        return isinstance(node, ast.Import | ast.ImportFrom) or docstring

    first_body = next(n for n in tree.body if not is_header(n))
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    import_text = "\n".join("\n".join(lines[n.lineno - 1 : n.end_lineno]) for n in imports)

    chunks: dict[str, list[str]] = {key: [] for key in ORDER}
    current = "common"
    for index in range(first_body.lineno - 1, len(lines)):
        found = SEPARATOR.match(lines[index])
        if found:
            current = TITLES[found.group(1).strip()]
        chunks[current].append(lines[index])

    bodies = {key: "\n".join(chunks[key]).strip("\n") for key in ORDER}
    names = {key: top_names(bodies[key]) for key in ORDER}
    for key in ORDER:
        parts = [
            f'"""{DOCS[key]}\n\nSplit from bot/services/checkins.py '
            '(which re-exports every name)."""\n',
            import_text,
            *(import_list(f"checkin_{o}", names[o]) for o in ORDER if o != key and names[o]),
        ]
        path = root / f"bot/services/checkin_{key}.py"
        path.write_text("\n".join(parts) + "\n\n\n" + bodies[key] + "\n")

    doc = ast.get_docstring(tree) or ""
    facade = [
        f'"""{doc}\n\nThe code lives in four modules (this one re-exports every name, so old '
        "imports work):\ncheckin_common (shared pieces), checkin_run (the daily run), "
        'checkin_answers\n(answering), checkin_views (officer views)."""\n',
        "from __future__ import annotations\n",
        *(import_list(f"checkin_{key}", names[key]) for key in ORDER),
    ]
    every = sorted(n for key in ORDER for n in names[key])
    facade.append("\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in every) + "]\n")
    src_path.write_text("\n".join(facade))

    ruff = Path(sys.executable).parent / "ruff"
    modules = ("checkins", *(f"checkin_{key}" for key in ORDER))
    targets = [str(root / f"bot/services/{m}.py") for m in modules]
    subprocess.run([str(ruff), "check", "--fix", "--unsafe-fixes", "-q", *targets], check=False)
    subprocess.run([str(ruff), "format", "-q", *targets], check=True)
    return {key: len(names[key]) for key in ORDER}


if __name__ == "__main__":
    print(split(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
