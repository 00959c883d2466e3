"""The login `quorum login` keeps: {"url", "token", "username", "expires_at"} in
$XDG_CONFIG_HOME/quorum/credentials.json (default ~/.config/quorum/), readable by its owner
alone.

The file is written under a temporary name created with mode 0600 and then renamed over the
old one, so the token is never in a file others may read, not even for an instant, and a
crash mid-write leaves the previous login whole. The directory is made 0700.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

FILE_NAME = "credentials.json"
FIELDS = ("url", "token", "username", "expires_at")


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/quorum, else ~/.config/quorum."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "quorum"


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def same_server(first: str | None, second: str | None) -> bool:
    """Whether two server addresses are the same (a trailing slash or the case of the host
    aside): a stored token is only ever sent to the server that issued it."""
    if not first or not second:
        return False
    return first.rstrip("/").lower() == second.rstrip("/").lower()


def load(path: Path | None = None) -> dict | None:
    """The stored login, or None when there is none (or it is not a login we wrote)."""
    path = path or credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("token") or not data.get("url"):
        return None
    return {key: data.get(key) for key in FIELDS}


def save(data: dict, path: Path | None = None) -> Path:
    """Store the login (mode 0600 in a 0700 directory) and return the file's path."""
    path = path or credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # mkdir's mode is cut by the umask, and it may have existed
    body = json.dumps({key: data.get(key) for key in FIELDS}, indent=2).encode()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a crash: O_EXCL would refuse it
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def delete(path: Path | None = None) -> bool:
    """Remove the stored login; False if there was none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def is_private(path: Path | None = None) -> bool:
    """Whether nobody but the owner may read or write the file (POSIX modes)."""
    path = path or credentials_path()
    try:
        mode = path.stat().st_mode
    except OSError:
        return True
    return not mode & (stat.S_IRWXG | stat.S_IRWXO)
