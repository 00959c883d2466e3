"""Run bench/bench_*.py (or the scripts named on the command line) and write
docs/benchmarks.md: each script's method (its docstring) and what it printed, with the date
and the machine. A section of a script not run this time is kept as it was, so
`make bench BENCH=bench/bench_deployment.py` refreshes one section. `make bench` calls this."""

from __future__ import annotations

import ast
import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks.md"


def title(script: Path) -> str:
    return f"## {script.stem.removeprefix('bench_').replace('_', ' ').capitalize()}"


def earlier_sections() -> dict[str, str]:
    """{heading: its block} of the file as it stands."""
    if not OUTPUT.exists():
        return {}
    blocks = re.split(r"(?m)^(?=## )", OUTPUT.read_text())[1:]
    return {block.splitlines()[0]: block.rstrip("\n") + "\n" for block in blocks}


def run(script: Path, today: str) -> tuple[str, bool]:
    """The script's section, and whether it succeeded."""
    method = ast.get_docstring(ast.parse(script.read_text())) or ""
    print(f"== {script.name}", flush=True)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=3600
    )
    print(result.stdout, result.stderr[-2000:] if result.returncode else "", flush=True)
    lines = [
        title(script),
        "",
        method,
        "",
        f"Results (`python bench/{script.name}`, {today}):",
        "",
        "```",
        (result.stdout.strip() or "(no output)")
        + ("" if result.returncode == 0 else f"\nFAILED, exit {result.returncode}"),
        "```",
        "",
    ]
    return "\n".join(lines), result.returncode == 0


def main() -> int:
    chosen = sys.argv[1:]
    scripts = [Path(s) for s in chosen] or sorted((ROOT / "bench").glob("bench_*.py"))
    today = f"{datetime.date.today():%Y-%m-%d}"
    sections = earlier_sections() if chosen else {}
    failed = 0
    for script in scripts:
        block, ok = run(script.resolve(), today)
        sections[title(script)] = block
        failed += not ok
    header = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {today}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}. Each section gives the date of its "
        "run; compare ratios measured in the same run, not absolute times across runs or "
        "machines.",
        "",
    ]
    body = [sections[heading] for heading in sorted(sections)]
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
