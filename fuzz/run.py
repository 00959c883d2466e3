"""`make fuzz`: schemathesis against every operation of /api/schema/ on the real server.

Steps: empty the fuzz database (DATABASE_URL, whose name must end in "fuzz", or a throwaway
SQLite file under var/fuzz/), migrate, seed it through the services (fuzz/seed.py: the
demo data, a multiclass use case linked to MLflow, throwaway objects and an owner's token),
collect the static files, start gunicorn on a free port of 127.0.0.1 with DEBUG off, then run the
schemathesis CLI with a fixed seed and a time budget. It fails on any 5xx, any response
whose status code, content type or body the schema does not document, and any request
that times out. Everything it writes is under var/fuzz/ (docs/security.md, "Fuzzing").

    .venv/bin/python fuzz/run.py [--max-time 150] [--seed 20261204] [--serve]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin/: python, gunicorn, schemathesis
OUT = ROOT / "var" / "fuzz"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
# A request slower than this fails the run: the ReDoS and decompression bombs
# showed up as requests that never came back. gunicorn kills a worker after 30 s.
REQUEST_TIMEOUT_SECONDS = 10


def main() -> int:
    options = parse_args()
    # A SIGTERM (a CI time-out, `kill`) unwinds through the `finally` that stops gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.summary_only:
        summarise(json.loads((OUT / "schema.json").read_text()))
        return 0
    clear_outputs()
    started = time.monotonic()
    env = server_env(fresh_database())
    manage(env, "migrate", "--no-input", "-v0")
    seed = json.loads(run([BIN / "python", ROOT / "fuzz" / "seed.py"], env).stdout)
    (OUT / "seed.json").write_text(json.dumps(seed, indent=1))  # the token, to reproduce
    manage(env, "collectstatic", "--no-input", "--clear", "-v0")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(env, port)
    try:
        wait_until_up(f"{base}/api/schema/")
        schema_path = OUT / "schema.json"
        schema_path.write_bytes(fetch(f"{base}/api/schema/?format=json"))
        config = write_config(seed)
        print(f"== fuzz: set-up took {time.monotonic() - started:.0f} s; {base}", flush=True)
        if options.serve:  # reproduce by hand: the seeded server stays up until Ctrl-C/SIGTERM
            print(f'curl -H "Authorization: Token {seed["token"]}" {base}/api/v1/usecases/')
            with contextlib.suppress(KeyboardInterrupt):
                server.wait()
            return 0
        code = run_schemathesis(base, config, seed, options)
    finally:
        stop_server(server)
    figures = summarise(json.loads(schema_path.read_text()))
    print(f"== fuzz: {time.monotonic() - started:.0f} s in all; reports in {OUT}/")
    if figures["5xx"] and code == 0:  # belt and braces: any 5xx in the access log fails
        code = 1
    return code


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=150, help="schemathesis' budget, s")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="schemathesis' threads; more than one trips a CPython 3.11 race in ast.parse"
        ' ("AST constructor recursion depth mismatch", via Hypothesis) now and then',
    )
    parser.add_argument(
        "--max-examples", type=int, default=60, help="per operation and phase, at most"
    )
    parser.add_argument(
        "--summary-only", action="store_true", help="print the last run's table again"
    )
    parser.add_argument(
        "--serve", action="store_true", help="set up and serve, without fuzzing, until Ctrl-C"
    )
    return parser.parse_args()


def clear_outputs() -> None:
    """Empty var/fuzz/: the last run's reports (an old events.ndjson would feed this run's
    summary), database file, static files and queued tasks."""
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)


def fresh_database() -> str:
    """An empty database: the SQLite file deleted, or the PostgreSQL database re-created."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        path = OUT / "fuzz.sqlite3"
        for leftover in OUT.glob("fuzz.sqlite3*"):
            leftover.unlink()
        return f"sqlite:///{path}"
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith("fuzz"):
        sys.exit(
            f"fuzz: DATABASE_URL names the database {name!r}; the fuzzer empties its database, "
            "so it only takes one whose name ends in 'fuzz' (e.g. quorum_fuzz)."
        )
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"fuzz: unsupported DATABASE_URL scheme {parts.scheme!r}")
    import psycopg  # the project's own driver, only needed here

    maintenance = urllib.parse.urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def server_env(database_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",  # production behaviour: no debug pages, manifest static files
        "SECRET_KEY": "fuzz-only-not-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",  # a developer's .env may turn it on; HTTP here
        "QUORUM_VAR_DIR": str(OUT),  # the SQLite default and the embedded broker
        "STATIC_ROOT": str(OUT / "static"),
        # Tasks the fuzzer starts (evaluations, e-mails) queue on disk under var/fuzz/ and no
        # worker runs them: the CI's Redis stays the tests' own.
        "CELERY_BROKER_URL": "filesystem://",
        "EMAIL_URL": "consolemail://",
        # Thousands of requests a minute from one token are the point here; and POST
        # /api/v1/auth/token, 10 a minute per address by default, should get past its throttle
        # to the password check and axes (whose lockouts hit only the fuzzed usernames).
        "THROTTLE_RATE_USER": "100000/minute",
        "THROTTLE_RATE_ANON": "100000/minute",
        "THROTTLE_RATE_TOKEN_LOGIN": "100000/minute",
        # A fuzzed MLflow tracking URI is checked and called as in production (a developer's
        # .env must not allow private hosts here): a private or loopback host is refused
        # before any connection, a name is resolved (mlflow.invalid never resolves), and a
        # public address that answers nothing gives up quickly, inside the request timeout.
        "MLFLOW_ALLOWED_HOSTS": "",
        "MLFLOW_CREDENTIALS": "{}",
        "MLFLOW_TIMEOUT_SECONDS": "2",
        "WEBHOOK_ALLOW_PRIVATE_HOSTS": "false",
        "LOG_LEVEL": "ERROR",  # server.log gets the 5xx tracebacks, not every 404
        "PYTHONUNBUFFERED": "1",
    }


def run(command: list, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"fuzz: {' '.join(map(str, command[1:]))} failed ({result.returncode})")
    return result


def manage(env: dict, *args: str) -> None:
    run([BIN / "python", ROOT / "manage.py", *args], env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict, port: int) -> subprocess.Popen:
    """gunicorn as the Procfile runs it, two sync workers; its log is var/fuzz/server.log."""
    log = (OUT / "server.log").open("w")
    command = [
        BIN / "gunicorn",
        "portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "30",
        # No cap on the request line: a long generated query string should reach Django, not
        # get gunicorn's own 414 page (a limit of the front server, not of the API).
        "--limit-request-line",
        "0",
        "--access-logfile",
        OUT / "access.log",
        "--access-logformat",
        "%(s)s %(M)s %(r)s",  # status, milliseconds, request line as sent
    ]
    return subprocess.Popen(
        [str(part) for part in command],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, ended as a whole below
    )


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            fetch(url)
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                sys.exit(f"fuzz: the server did not answer {url} in 30 s (see var/fuzz/server.log)")
            time.sleep(0.3)


def write_config(seed: dict) -> Path:
    """schemathesis.toml: real slugs, versions, ids and request ids for the parameters and
    body fields that name objects, so that operations reach their objects and the services
    behind them instead of answering 404 or 400 to random names."""
    ids, scratch = seed["ids"], seed["scratch"]
    dictionaries = {
        "slugs": seed["slugs"],
        "versions": seed["versions"],
        # Path ids are strings in the schema (a lookup regex), body ids integers.
        **{kind: [str(pk) for pk in pks] for kind, pks in ids.items()},
        # Body fields: real names, and one with a NUL, which PostgreSQL refuses in text and
        # jsonb (the commonest 500), so that each run sends some at real objects.
        "version_names": [*seed["versions"], f"{seed['versions'][-1]}\u0000"],
        "dataset_ids": ids["datasets"],
        "request_ids": [*seed["request_ids"], f"{seed['request_ids'][-1]}\u0000"],
        # An outcome has no type in the schema: a class, 0/1 or a number as the task needs.
        "outcomes": ["air", "sea", "ground", 0, 1, 7.5, "air\u0000"],
        # What DELETE and close act on: throwaway objects, so that the first success does
        # not leave every other operation with 404s.
        "delete_usecase": [scratch["usecase_delete"]],
        "phase_usecase": [scratch["usecase_phase"]],
        "delete_kpi": [str(scratch["kpi"])],
        "delete_rule": [str(scratch["rule"])],
        "delete_member": [str(pk) for pk in scratch["members"]],
        "delete_dataset": [str(scratch["dataset"])],
        "close_campaign": [str(scratch["campaign"])],
        "unlink_usecase": [scratch["usecase_unlink"]],
        # Tracking URIs that reach the service's checks and never leave the machine: refused
        # as private, or a name that does not resolve; one with a NUL.
        "tracking_uris": [
            "https://mlflow.invalid",
            "http://mlflow.invalid:5000/",
            "http://127.0.0.1:5000",
            "http://[::1]:5000",
            "http://192.0.2.1",
            "https://mlflow.invalid\u0000",
        ],
    }
    everywhere = {  # parameter or body field, then its dictionary and how often it is used
        "path.slug": ("slugs", 1.0),
        "path.use_case_slug": ("slugs", 1.0),
        "path.version": ("versions", 1.0),
        # Half the time only: the other half keeps Hypothesis' own strings in these fields.
        "body.version": ("version_names", 0.5),
        "body.model_version": ("version_names", 0.5),
        "body.other_version": ("version_names", 0.5),
        "body.dataset": ("dataset_ids", 0.5),
        "body.[*].version": ("version_names", 0.5),
        "body.[*].request_id": ("request_ids", 0.5),
        "body.[*].outcome": ("outcomes", 0.5),
        "body.tracking_uri": ("tracking_uris", 0.5),
    }
    by_operation = [  # operation id pattern, then its path parameters' dictionaries
        (r"^v1_usecases_change_phase$", {"slug": "phase_usecase"}),
        (r"^v1_usecases_kpis_destroy$", {"id": "delete_kpi"}),
        (r"^v1_usecases_kpis_(?!destroy$)", {"id": "kpis"}),
        (r"^v1_usecases_data_quality_rules_destroy$", {"id": "delete_rule"}),
        (r"^v1_usecases_data_quality_rules_(?!destroy$)", {"id": "rules"}),
        (r"^v1_usecases_datasets_destroy$", {"id": "delete_dataset"}),
        (r"^v1_usecases_datasets_(?!destroy$)", {"id": "datasets"}),
        (r"^v1_usecases_evaluations_", {"id": "evaluations"}),
        (r"^v1_usecases_members_destroy$", {"id": "delete_member"}),
        (r"^v1_usecases_members_(?!destroy$)", {"id": "members"}),
        (r"^v1_usecases_review_campaigns_close_create$", {"id": "close_campaign"}),
        (
            r"^v1_(usecases_review_campaigns_(?!close_create$)|review_campaign_)",
            {"id": "campaigns"},
        ),
        (r"^v1_usecases_promotions_", {"id": "promotions"}),
    ]
    lines = [
        "# Written by fuzz/run.py for one run; the token and ids are this run's.",
        'headers = { Authorization = "Token ${QUORUM_FUZZ_TOKEN}" }',
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for key, (dictionary, probability) in everywhere.items():
        lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    lines.append("")
    lines += [
        "# Deleting a use case: with the token of a user who owns only the throwaway one, so",
        "# that a slug taken from a response (bank-churn…) answers 404, not 204.",
        "[[operations]]",
        'include-operation-id = "v1_usecases_destroy"',
        'headers = { Authorization = "Token ${QUORUM_FUZZ_DELETER_TOKEN}" }',
        'parameters = { "path.slug" = { dictionary = "delete_usecase" } }',
        "",
        "# Unlinking MLflow: the same token, at a use case of its own with a link.",
        "[[operations]]",
        'include-operation-id = "v1_usecases_mlflow_destroy"',
        'headers = { Authorization = "Token ${QUORUM_FUZZ_DELETER_TOKEN}" }',
        'parameters = { "path.use_case_slug" = { dictionary = "unlink_usecase" } }',
        "",
        "# Revoking the token a request carries: a throwaway token, not Olivia's, which every",
        "# later request needs (the first 204 revokes it; the requests after it get 401).",
        "[[operations]]",
        'include-operation-id = "v1_auth_token_destroy"',
        'headers = { Authorization = "Token ${QUORUM_FUZZ_REVOKE_TOKEN}" }',
        "",
    ]
    for pattern, bindings in by_operation:
        parameters = ", ".join(
            f'"path.{p}" = {{ dictionary = "{d}" }}' for p, d in bindings.items()
        )
        lines += [
            "[[operations]]",
            f"include-operation-id-regex = {json.dumps(pattern)}",
            f"parameters = {{ {parameters} }}",
            "",
        ]
    path = OUT / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def run_schemathesis(base: str, config: Path, seed: dict, options: argparse.Namespace) -> int:
    command = [
        BIN / "schemathesis",
        "--config-file",
        config,
        "run",
        f"{base}/api/schema/",
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",  # positive (valid) and negative (invalid) data
        "--max-time",
        str(options.max_time),
        "--max-examples",
        str(options.max_examples),
        "--seed",
        str(options.seed),
        "--workers",
        str(options.workers),
        "--generation-database",
        "none",  # the same seed gives the same cases: no examples carried over
        "--request-timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--report",
        "junit,ndjson",
        "--report-junit-path",
        OUT / "junit.xml",
        "--report-ndjson-path",
        OUT / "events.ndjson",
        # Report every failure of an operation, not only its first (the list to fix).
        "--continue-on-failure",
        # The header above is the credential; no generated session cookie beside it.
        "--generation-with-security-parameters",
        "false",
        "--no-color",
    ]
    env = {
        **os.environ,
        "QUORUM_FUZZ_TOKEN": seed["token"],
        "QUORUM_FUZZ_DELETER_TOKEN": seed["scratch"]["deleter_token"],
        "QUORUM_FUZZ_REVOKE_TOKEN": seed["scratch"]["revoke_token"],
    }
    with (OUT / "schemathesis.log").open("w") as log:
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=OUT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
            return process.wait()
        finally:
            if process.poll() is None:  # interrupted: schemathesis must not outlive us
                process.kill()


def summarise(schema: dict) -> dict:
    """Per operation: requests and status classes from gunicorn's access log, and the failed
    checks from schemathesis' events; printed as a table, kept in var/fuzz/summary.json.
    An access-log line of another shape is counted (`skipped_lines`), not a crash."""
    paths = [
        (path, template_regex(path), set(items) - {"parameters"})
        for path, items in schema["paths"].items()
    ]
    rows, skipped = collections.defaultdict(collections.Counter), 0
    for line in (OUT / "access.log").read_text(errors="replace").splitlines():
        entry = read_access_line(line)
        if entry is None:
            skipped += 1
            continue
        status, method, target = entry
        found = [(p, methods) for p, regex, methods in paths if regex.match(target.split("?")[0])]
        if not found:
            label = "(a path of no operation)"
        elif method.lower() in found[0][1]:
            label = f"{method} {found[0][0]}"
        else:  # the coverage phase tries TRACE, OPTIONS… on every path
            label = "(a method no operation of the path has)"
        rows[label]["requests"] += 1
        rows[label][f"{status[:1]}xx"] += 1
    failures = failed_checks()
    for label, codes in failures.items():
        rows[label].update(codes)
    codes = sorted({code for counter in failures.values() for code in counter})
    total = sum(rows.values(), collections.Counter())
    header = f"{'operation':<72} {'requests':>8} {'2xx':>5} {'4xx':>5} {'5xx':>4}"
    print("\n" + header + "".join(f" {code:>5}" for code in codes))
    for label in [*sorted(rows), "all"]:
        row = total if label == "all" else rows[label]
        figures = (row["requests"], row["2xx"], row["4xx"], row["5xx"])
        print(
            f"{label[:72]:<72} {figures[0]:>8} {figures[1]:>5} {figures[2]:>5} {figures[3]:>4}"
            + "".join(f" {row[code]:>5}" for code in codes)
        )
    print("Failed checks, counted per generated case: " + ", ".join(codes or ["none"]))
    if skipped:
        print(f"Access-log lines not understood, left out of the table: {skipped}")
    summary = {
        "requests": total["requests"],
        "5xx": total["5xx"],
        "skipped_lines": skipped,
        "operations": rows,
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def read_access_line(line: str) -> tuple[str, str, str] | None:
    """Status, method and target of one access-log line ("%(s)s %(M)s %(r)s"); None for a
    line of another shape. A request line gunicorn could not read still counts, by status."""
    parts = line.split(" ", 2)
    if len(parts) < 2 or not re.fullmatch(r"[1-5][0-9][0-9]", parts[0]) or not parts[1].isdigit():
        return None
    method, target = ((parts[2] if len(parts) == 3 else "").split(" ") + ["", ""])[:2]
    return parts[0], method, target


def failed_checks() -> dict[str, collections.Counter]:
    """{operation: {"ST101": cases, ...}} from the NDJSON report (one event per scenario)."""
    failures = collections.defaultdict(collections.Counter)
    events = OUT / "events.ndjson"
    if not events.exists():
        return failures
    for line in events.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            label = recorder["label"]
            if label.startswith("Stateful") or " " not in label:  # a stateful step
                method = recorder["cases"][case_id]["value"]["method"]
                label = f"{method} {recorder['cases'][case_id]['value']['path']}"
            for check in checks:
                if check["status"] == "failure":
                    code = check["failure_info"]["failure"].get("code") or check["name"]
                    failures[label][code] += 1
    return failures


def template_regex(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


if __name__ == "__main__":
    sys.exit(main())
