"""Where Quorum may send an HTTP request that a user configured (the deployment webhook of
promotions/services/webhooks.py, the chat webhook of notifications/services/delivery.py),
and the one way it sends one: public addresses only, checked when the URL is saved and
again, resolved, at each send, where the connection goes to the very address checked, so
the portal cannot be made to call into its own network (SSRF), not even by a name that
resolves elsewhere the second time (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests.certs
import urllib3
from django.conf import settings

NOT_A_URL = "This is not a valid URL."
PRIVATE = "Only public addresses are allowed; this host is loopback, private or local."
# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052), the
# deprecated IPv4-compatible ::a.b.c.d, and SIIT's ::ffff:0:a.b.c.d (RFC 2765).
CARRYING_IPV4 = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translator


def allow_private_hosts() -> bool:
    """WEBHOOK_ALLOW_PRIVATE_HOSTS: off in production, on in DEBUG for local tries."""
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", False))


def _refused_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.version == 6:
        inner = ip.ipv4_mapped or ip.sixtofour  # ::ffff:a.b.c.d, 2002:aabb:ccdd::/48
        if inner is None and any(ip in net for net in CARRYING_IPV4):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and _refused_ip(inner):
            return True
        if ip in LOCAL_NAT64 or ip.is_site_local:
            return True
    return not ip.is_global or ip.is_multicast


def refused_address(address: str) -> bool:
    """A loopback, private, link-local, reserved or multicast address, also wrapped in IPv6
    (IPv4-mapped, 6to4, NAT64, ::a.b.c.d). Raises ValueError if `address` is not one."""
    return _refused_ip(ipaddress.ip_address(address.split("%", 1)[0]))  # a zone ("%eth0") aside


def _numeric_host(host: str) -> str | None:
    """`host` as an address if it is one in any spelling a resolver takes ("127.1",
    "2130706433", "0x7f000001" are all 127.0.0.1), else None (a name)."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None


def url_problem(url: str, *, allow_http: bool = False, allow_private: bool = False) -> str:
    """Why `url` may not be called ("" if it may): https (http only if `allow_http`), a host,
    no user name or password, and no loopback or private host by name or number (unless
    `allow_private` or the setting allows it). A name is resolved and checked again at each
    send."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "https://[::1", "https://[hooks.example.com]/"
        return NOT_A_URL
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return "The URL must start with https://."
    try:
        host, _ = parts.hostname, parts.port  # a port out of range raises here
    except ValueError:
        return "This URL's port is not a number from 1 to 65535."
    if not host:
        return "This URL names no host."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in the URL."
    if allow_private or allow_private_hosts():
        return ""
    address = _numeric_host(host)
    if address is not None:
        refused = refused_address(address)
    else:
        name = host.rstrip(".")
        refused = name == "localhost" or name.endswith((".localhost", ".local", ".internal"))
    return PRIVATE if refused else ""


# Sending


@dataclass
class Answer:
    """What one POST came to: the receiver's status code, or why there is none. `transient`:
    worth another try (no answer, a dropped connection, 408/425/429/5xx); `tls`: the TLS
    handshake failed (an untrusted or mismatched certificate, or no TLS on the port)."""

    code: int | None = None
    error: str = ""
    transient: bool = False
    tls: bool = False
    body: bytes = b""  # a success's answer, up to the bytes asked for

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


# Answers worth another try: the receiver is down, overloaded or asks to slow down.
TRANSIENT_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order; OSError if none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, read_bytes: int = 300
) -> Answer:
    """POST `body` to `url` once (send() with WEBHOOK_ALLOW_PRIVATE_HOSTS deciding whether a
    private address may be reached); a refusal's error keeps the first `read_bytes`."""
    return send("POST", url, body, headers, timeout=timeout, read_bytes=read_bytes)


def send(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float,
    read_bytes: int = 300,
    allow_private: bool | None = None,
) -> Answer:
    """Send one request to `url`; no redirect followed, never raises for the network.

    The host is resolved here and every address checked (unless `allow_private`, which
    defaults to WEBHOOK_ALLOW_PRIVATE_HOSTS); the connection goes to the address checked,
    with the host's name in `Host`, in TLS SNI and in the certificate check, so a name that
    resolves to a public address for the check and a private one for the connection cannot
    reach inside. urllib3 directly: no proxy from the environment (HTTPS_PROXY…), no .netrc.
    At most `read_bytes` of the answer are read: kept in `Answer.body`, and in the error of a
    refusal. `timeout` applies to connecting and between bytes.
    """
    if allow_private is None:
        allow_private = allow_private_hosts()
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return Answer(error=f"refused: {NOT_A_URL}")
    if parts.scheme not in ("http", "https") or not host:
        return Answer(error="refused: the URL is http(s) with a host")
    https = parts.scheme == "https"
    port = port or (443 if https else 80)
    try:
        addresses = resolve(host, port)
    except UnicodeError:  # a label the IDNA codec refuses (empty, or over 63 characters)
        return Answer(error=f"refused: {host} is not a valid host name")
    except OSError as error:
        return Answer(error=f"cannot resolve {host}: {error}", transient=True)
    if not addresses:
        return Answer(error=f"cannot resolve {host}: no address", transient=True)
    if not allow_private and any(map(refused_address, addresses)):
        return Answer(error=f"refused: {host} resolves to a private address")
    pool_class, tls = urllib3.HTTPConnectionPool, {}
    if https:
        pool_class = urllib3.HTTPSConnectionPool
        tls = {
            "server_hostname": host,
            "assert_hostname": host,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": requests.certs.where(),
        }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**headers, "Host": parts.netloc.rsplit("@", 1)[-1]}  # the name the receiver expects
    timeouts = urllib3.Timeout(connect=timeout, read=timeout)
    try:
        with pool_class(addresses[0], port, timeout=timeouts, retries=False, **tls) as pool:
            response = pool.urlopen(
                method, path, body=body, headers=headers, redirect=False, preload_content=False
            )
            try:
                snippet = response.read(read_bytes, decode_content=False)
            finally:
                response.release_conn()
    except urllib3.exceptions.SSLError as error:
        return Answer(error=f"TLS failed: {error}", transient=True, tls=True)
    except urllib3.exceptions.NewConnectionError as error:  # before: it is a TimeoutError too
        return Answer(error=f"connection failed: {error}", transient=True)
    except urllib3.exceptions.TimeoutError:
        return Answer(error=f"no answer within {timeout} s", transient=True)
    except urllib3.exceptions.HTTPError as error:
        return Answer(error=f"connection failed: {error}", transient=True)
    except OSError as error:
        return Answer(error=str(error) or type(error).__name__, transient=True)
    code = response.status
    if 200 <= code < 300:
        return Answer(code=code, body=snippet)
    text = snippet.decode("utf-8", errors="replace").strip()
    reason = f"the receiver answered {code}" + (f": {text}" if text else "")
    if 300 <= code < 400:
        reason = f"the receiver answered {code} (a redirect, not followed): set the final URL"
    return Answer(code=code, error=reason, transient=code in TRANSIENT_CODES)
