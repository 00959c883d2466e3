"""Run every bench/bench_*.py and write docs/benchmarks.md: each script's method (its
docstring) and what it printed, with the date and the machine. `make bench` calls this."""

from __future__ import annotations

import ast
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks.md"


def main() -> int:
    scripts = sys.argv[1:] or sorted(str(p) for p in (ROOT / "bench").glob("bench_*.py"))
    cores = os.cpu_count()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.date.today():%Y-%m-%d}: Python "
        f"{platform.python_version()}, {cores} cores, {platform.machine()}. Figures from one "
        "run; compare ratios measured in the same run, not absolute times across machines.",
        "",
    ]
    failed = 0
    for script in scripts:
        path = Path(script)
        method = ast.get_docstring(ast.parse(path.read_text())) or ""
        print(f"== {path.name}", flush=True)
        result = subprocess.run(
            [sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=1800
        )
        print(result.stdout, result.stderr[-2000:] if result.returncode else "", flush=True)
        failed += result.returncode != 0
        lines += [
            f"## {path.stem.removeprefix('bench_').replace('_', ' ').capitalize()}",
            "",
            method,
            "",
            f"Results (`python bench/{path.name}`):",
            "",
            "```",
            (result.stdout.strip() or "(no output)")
            + ("" if result.returncode == 0 else f"\nFAILED, exit {result.returncode}"),
            "```",
            "",
        ]
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text("\n".join(lines))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
