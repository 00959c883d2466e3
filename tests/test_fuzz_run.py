"""fuzz/run.py's own bookkeeping (`make fuzz`, docs/security.md "Fuzzing"): each run starts
from an empty var/fuzz/, and the summary reads any access log without crashing."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = {"paths": {"/api/v1/usecases/": {"get": {}, "post": {}}}}


@pytest.fixture
def fuzz_run(tmp_path, monkeypatch):
    """fuzz/run.py as a module, writing under a temporary folder instead of var/fuzz/."""
    spec = importlib.util.spec_from_file_location("fuzz_run", ROOT / "fuzz" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "fuzz")
    return module


def test_a_run_starts_from_an_empty_folder(fuzz_run):
    # Before: only *.log files were deleted, so the last run's events.ndjson (its failures)
    # fed the next run's table when schemathesis did not write a new one.
    out = fuzz_run.OUT
    (out / "static").mkdir(parents=True)
    for name in ("events.ndjson", "junit.xml", "summary.json", "access.log", "static/app.css"):
        (out / name).write_text("old")
    fuzz_run.clear_outputs()
    assert out.is_dir() and list(out.iterdir()) == []
    assert fuzz_run.failed_checks() == {}


def test_the_summary_skips_and_counts_lines_it_does_not_understand(fuzz_run, capsys):
    # Before: ValueError ("not enough values to unpack") on the first odd line.
    fuzz_run.OUT.mkdir(parents=True)
    lines = [
        "200 12 GET /api/v1/usecases/ HTTP/1.1",
        "",
        "[2026-12-04 10:00:00 +0000] [42] [INFO] Booting worker",
        "201 30 POST /api/v1/usecases/ HTTP/1.1",
        "500 7 POST /api/v1/usecases/ HTTP/1.1",
        "404 3 GET /api/v1/nothing/ HTTP/1.1",
        "400 0 -",  # a request line gunicorn could not read: still counted, by its status
        "OK",
    ]
    (fuzz_run.OUT / "access.log").write_text("\n".join(lines) + "\n")
    summary = fuzz_run.summarise(SCHEMA)
    assert summary["requests"] == 5
    assert summary["5xx"] == 1
    assert summary["skipped_lines"] == 3
    assert summary["operations"]["POST /api/v1/usecases/"]["requests"] == 2
    assert "not understood, left out of the table: 3" in capsys.readouterr().out
    assert json.loads((fuzz_run.OUT / "summary.json").read_text())["skipped_lines"] == 3
