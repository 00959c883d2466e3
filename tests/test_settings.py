"""Settings come from the environment: production values pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p7w$k2-production-like-secret-key-of-sufficient-length-and-entropy-9x",
    "ALLOWED_HOSTS": "quorum.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://quorum.example.com",
    "DATABASE_URL": "postgres://quorum:secret@db.example.com:5432/quorum",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "EMAIL_URL": "smtp+tls://user:password@smtp.example.com:587",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Start from this environment minus what the production set replaces, and minus the
    # async escape hatch the browser tests set (it must never reach a real deployment).
    dropped = {*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_start_up_stops_without_a_secret_key_when_debug_is_off():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_example_environment_file_lists_every_production_variable():
    example = (ROOT / ".env.example").read_text()
    for name in PRODUCTION:
        assert f"{name}=" in example
