"""`quorum login` / `quorum logout` and the stored login: the token endpoint's contract
(POST /api/v1/auth/token → 201 {"token", "token_key", "expires_at", "username"}; DELETE with
the token → 204) faked with `responses`, the file's modes checked on the real filesystem,
and one round trip against the live server."""

import json
import os
import socket
import stat

import pytest
import requests
from responses import matchers

from quorum_client import Client, cli, credentials
from tests.client.conftest import BASE

TOKEN_URL = f"{BASE}/api/v1/auth/token"
ISSUED = {
    "token": "a1b2c3d4e5f6-secret",
    "token_key": "a1b2c3d4",
    "expires_at": "2027-03-01T10:00:00Z",
    "username": "dana",
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def stored(config_home) -> dict:
    """A login stored as `quorum login` leaves it."""
    login = {"url": BASE, "token": "stored-token", "username": "dana", "expires_at": None}
    credentials.save(login)
    return login


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_login_posts_the_credentials_and_stores_the_token_readable_by_its_owner_alone(
    api, capsys, config_home, monkeypatch
):
    monkeypatch.setenv("QUORUM_USERNAME", "dana")
    monkeypatch.setenv("QUORUM_PASSWORD", "correct horse")
    os.umask(0o000)  # even with a permissive umask, nothing is made readable by others
    try:
        api.post(
            TOKEN_URL,
            status=201,
            json=ISSUED,
            match=[
                matchers.json_params_matcher(
                    {
                        "username": "dana",
                        "password": "correct horse",
                        "name": f"quorum CLI on {socket.gethostname()}",
                    }
                )
            ],
        )
        status, out, err = run(capsys, "login", "--url", BASE)
    finally:
        os.umask(0o022)
    assert status == 0, err
    path = config_home / "quorum" / "credentials.json"
    assert out.splitlines() == [
        f"Logged in to {BASE} as dana; the token expires at 2027-03-01T10:00:00Z.",
        f"The token is stored in {path} (readable by you alone).",
    ]
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {
        "url": BASE,
        "token": ISSUED["token"],
        "username": "dana",
        "expires_at": "2027-03-01T10:00:00Z",
    }
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temporary left
    assert "Authorization" not in api.calls[0].request.headers


def test_the_file_is_never_world_readable_while_it_is_written(config_home, monkeypatch):
    opened = []
    real_open = os.open

    def watching_open(path, flags, mode=0o777, *args, **kwargs):
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(credentials.os, "open", watching_open)
    credentials.save({"url": BASE, "token": "t"})
    credentials.save({"url": BASE, "token": "t2"})  # a second login replaces the first
    assert all(mode == 0o600 and flags & os.O_EXCL for _, flags, mode in opened)
    assert len(opened) == 2
    assert credentials.load()["token"] == "t2"
    assert mode(credentials.credentials_path()) == 0o600


def test_login_asks_on_the_terminal_without_echoing_the_password(
    api, capsys, config_home, monkeypatch
):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "dana")
    asked = []
    monkeypatch.setattr(
        "quorum_client.cli.auth.getpass.getpass", lambda prompt: asked.append(prompt) or "pw"
    )
    api.post(TOKEN_URL, status=201, json=ISSUED)
    status, out, _ = run(capsys, "--url", BASE, "login", "--json")
    assert status == 0
    assert asked == ["Password: "]
    assert json.loads(api.calls[0].request.body)["password"] == "pw"
    shown = json.loads(out)
    assert ISSUED["token"] not in out  # --json output ends up in CI logs
    assert shown["token_key"] == "a1b2c3d4" and shown["username"] == "dana"


def test_without_a_terminal_login_needs_the_environment(api, capsys, monkeypatch):
    monkeypatch.setenv("QUORUM_USERNAME", "dana")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    status, _, err = run(capsys, "--url", BASE, "login")
    assert status == 2
    assert "set QUORUM_PASSWORD" in err
    assert len(api.calls) == 0


def test_a_wrong_password_exits_6_and_stores_nothing(api, capsys, config_home, monkeypatch):
    monkeypatch.setenv("QUORUM_USERNAME", "dana")
    monkeypatch.setenv("QUORUM_PASSWORD", "wrong")
    api.post(
        TOKEN_URL,
        status=400,
        json={
            "detail": "Unable to log in with the username and password given.",
            "code": "invalid_credentials",
        },
    )
    status, _, err = run(capsys, "--url", BASE, "login")
    assert status == cli.NOT_AUTHENTICATED == 6
    assert err == "quorum: Unable to log in with the username and password given. (HTTP 400)\n"
    assert not (config_home / "quorum" / "credentials.json").exists()


def test_a_lockout_is_shown_plainly_and_exits_9(api, capsys, monkeypatch):
    monkeypatch.setenv("QUORUM_USERNAME", "dana")
    monkeypatch.setenv("QUORUM_PASSWORD", "wrong")
    api.post(
        TOKEN_URL,
        status=429,
        json={"detail": "Too many failed logins: this account is locked for a while."},
        headers={"Retry-After": "900"},
    )
    status, _, err = run(capsys, "--url", BASE, "login")
    assert status == cli.THROTTLED == 9
    assert err == (
        "quorum: Too many failed logins: this account is locked for a while. Try again in 15 "
        "minutes. (HTTP 429)\n"
    )


def test_commands_use_the_stored_login_when_no_token_is_given(api, capsys, stored):
    api.get(f"{BASE}/api/v1/usecases/", json={"count": 0, "next": None, "results": []})
    status, out, _ = run(capsys, "usecases", "list")  # no --url: the stored server
    assert status == 0 and out == "No use cases.\n"
    assert api.calls[0].request.headers["Authorization"] == "Token stored-token"


def test_the_token_option_then_the_environment_come_before_the_stored_login(
    api, capsys, stored, monkeypatch
):
    api.get(f"{BASE}/api/v1/usecases/", json=[])
    monkeypatch.setenv("QUORUM_TOKEN", "from-env")
    run(capsys, "usecases", "list")
    run(capsys, "usecases", "list", "--token", "from-option")
    sent = [call.request.headers["Authorization"] for call in api.calls]
    assert sent == ["Token from-env", "Token from-option"]
    assert Client().token_source == "environment"


def test_a_stored_token_is_never_sent_to_another_server(api, capsys, stored, monkeypatch):
    status, _, err = run(capsys, "--url", "http://elsewhere.test", "usecases", "list")
    assert status == 2
    assert f"(The stored login is for {BASE}, not http://elsewhere.test.)" in err
    assert len(api.calls) == 0
    monkeypatch.setenv("QUORUM_URL", "http://elsewhere.test")
    assert Client().token is None
    assert Client(BASE + "/").token == "stored-token"


def test_a_refused_stored_token_says_to_log_in_again(api, capsys, stored):
    api.get(f"{BASE}/api/v1/usecases/", status=401, json={"detail": "Invalid token."})
    status, _, err = run(capsys, "usecases", "list")
    assert status == 6
    assert "Invalid token. The login stored in" in err and "run `quorum login` again" in err


def test_logout_revokes_the_token_and_deletes_the_file(api, capsys, stored, config_home):
    api.delete(TOKEN_URL, status=204)
    status, out, _ = run(capsys, "logout")
    assert status == 0
    path = config_home / "quorum" / "credentials.json"
    assert out == (
        f"Logged out of {BASE} (dana): the token was revoked on the server; deleted {path}.\n"
    )
    assert api.calls[0].request.headers["Authorization"] == "Token stored-token"
    assert not path.exists()


def test_logout_deletes_the_file_even_when_the_server_no_longer_knows_the_token(
    api, capsys, stored
):
    api.delete(TOKEN_URL, status=401, json={"detail": "Invalid token."})
    status, out, _ = run(capsys, "logout", "--json")
    assert status == 0
    assert json.loads(out)["revoked"] is False and json.loads(out)["deleted"] is True
    assert credentials.load() is None


def test_logout_keeps_the_file_when_the_server_cannot_be_reached(api, capsys, stored):
    api.delete(TOKEN_URL, body=requests.ConnectionError("refused"))
    status, _, err = run(capsys, "logout")
    assert status == 1
    assert "The token is still valid" in err and "quorum logout --forget" in err
    assert credentials.load() == stored
    status, out, _ = run(capsys, "logout", "--forget")
    assert status == 0 and "not revoked" in out
    assert credentials.load() is None
    assert len(api.calls) == 1


def test_logout_without_a_stored_login_says_so(api, capsys):
    status, _, err = run(capsys, "logout")
    assert status == 0 and "Not logged in" in err
    assert len(api.calls) == 0


def test_the_python_client_logs_in_and_out_too(api, config_home):
    api.post(TOKEN_URL, status=201, json=ISSUED)
    api.delete(TOKEN_URL, status=204)
    with Client(BASE) as client:
        client.login("dana", "pw", save=True)
        assert client.session.headers["Authorization"] == f"Token {ISSUED['token']}"
        assert Client().token == ISSUED["token"]  # the next client finds it
        assert client.logout() is True
    assert credentials.load() is None


@pytest.mark.django_db(transaction=True)
def test_login_and_logout_against_the_live_server(live_server, use_case, capsys, monkeypatch):
    """The round trip through the real endpoint."""
    user = use_case.members.get(role="data_scientist").user
    user.set_password("s3cret-pass")
    user.save()
    monkeypatch.setenv("QUORUM_USERNAME", user.username)
    monkeypatch.setenv("QUORUM_PASSWORD", "wrong")
    status, _, err = run(capsys, "--url", live_server.url, "login")
    assert status == cli.NOT_AUTHENTICATED, err
    assert credentials.load() is None
    monkeypatch.setenv("QUORUM_PASSWORD", "s3cret-pass")
    status, _, err = run(capsys, "--url", live_server.url, "login")
    assert status == 0, err
    assert mode(credentials.credentials_path()) == 0o600
    status, out, err = run(capsys, "usecases", "list", "--json")
    assert status == 0, err
    assert [u["slug"] for u in json.loads(out)] == ["demand-forecast"]
    token = credentials.load()["token"]
    status, _, err = run(capsys, "logout")
    assert status == 0, err
    assert credentials.load() is None
    refused = requests.get(
        f"{live_server.url}/api/v1/usecases/", headers={"Authorization": f"Token {token}"}
    )
    assert refused.status_code == 401
