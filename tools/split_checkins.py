"""Split bot/services/checkins.py (issue 9) into checkin_common / checkin_run /
checkin_answers / checkin_views, leaving checkins.py as a facade that re-exports every
name (old imports keep working).

Kept as a script, not as a commit, because several branches change checkins.py: run it
once after they are merged, then check and commit:

    python tools/split_checkins.py . && .venv/bin/pytest -q tests/unit tests/conversations

Sections are found by the '# ---...--- <title>' separators (recipients, the daily run,
answering, officer views); unused imports are removed and the result formatted with ruff.
"""
import ast, re, subprocess, sys
from pathlib import Path

root = Path(sys.argv[1])
src_path = root / "bot/services/checkins.py"
src = src_path.read_text()
if "from bot.services.checkin_common import" in src:
    sys.exit("bot/services/checkins.py is already split")
lines = src.split("\n")
tree = ast.parse(src)
# header: up to the end of the last import before the first non-import statement
first_body = next(n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom)) and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)))
header_end = first_body.lineno - 1  # 0-based index where body begins
# include preceding comments/decorators: walk back over blank lines
doc = ast.get_docstring(tree)
imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
import_text = "\n".join("\n".join(lines[n.lineno - 1:n.end_lineno]) for n in imports)
# sections
sep = re.compile(r"^# -{20,} (.+)$")
marks = [(i, sep.match(l).group(1).strip()) for i, l in enumerate(lines) if sep.match(l)]
titles = {"recipients": "common", "the daily run": "run", "answering": "answers", "officer views": "views"}
bounds = []
start = header_end
for i, title in marks:
    bounds.append((start, i))
    start = i
bounds.append((start, len(lines)))
chunks = {"common": [], "run": [], "answers": [], "views": []}
current = "common"
for (a, b) in bounds:
    head = lines[a] if a < len(lines) else ""
    m = sep.match(head)
    if m:
        current = titles[m.group(1).strip()]
    chunks[current].extend(lines[a:b])
docs = {
    "common": "Check-ins, shared pieces: constants, outbox keys, who is asked for whom.",
    "run": "Check-ins, the daily run: rows for the day, prompts, reminders, misses, releases.",
    "answers": "Check-ins, answering: who may answer what, recording an answer and its consequences.",
    "views": "Check-ins, officer views: isolations listed and found, ended and extended.",
}
order = ["common", "run", "answers", "views"]
def top_names(code: str) -> list[str]:
    t = ast.parse(code)
    out = []
    for n in t.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(n.name)
        elif isinstance(n, ast.Assign):
            out += [x.id for x in n.targets if isinstance(x, ast.Name)]
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            out.append(n.target.id)
    return out
names = {}
for i, key in enumerate(order):
    body = "\n".join(chunks[key]).strip("\n")
    names[key] = top_names(body)
for i, key in enumerate(order):
    body = "\n".join(chunks[key]).strip("\n")
    parts = [f'"""{docs[key]}\n\nSplit from bot/services/checkins.py (which re-exports every name)."""\n', import_text]
    for prev in order:
        if prev == key:
            continue
        if names[prev]:
            parts.append(f"from bot.services.checkin_{prev} import (\n" + "".join(f"    {n},\n" for n in names[prev]) + ")")
    (root / f"bot/services/checkin_{key}.py").write_text("\n".join(parts) + "\n\n\n" + body + "\n")
facade = [f'"""{doc}\n\nThe code lives in four modules (this one re-exports every name, so old imports work):\ncheckin_common (shared pieces), checkin_run (the daily run), checkin_answers\n(answering), checkin_views (officer views)."""\n', "from __future__ import annotations\n"]
all_names = []
for key in order:
    facade.append(f"from bot.services.checkin_{key} import (\n" + "".join(f"    {n},\n" for n in names[key]) + ")")
    all_names += names[key]
facade.append("\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in sorted(all_names)) + "]\n")
src_path.write_text("\n".join(facade))
ruff = Path(sys.executable).parent / "ruff"
targets = [str(root / f"bot/services/checkin{s}.py") for s in ("s", "_common", "_run", "_answers", "_views")]
subprocess.run([str(ruff), "check", "--fix", "--unsafe-fixes", "-q", *targets], check=False)
subprocess.run([str(ruff), "format", "-q", *targets], check=True)
print({k: len(v) for k, v in names.items()})
