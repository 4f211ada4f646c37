"""Which Host names the server answers to: the DNS-rebinding defence.

A page on evil.example can make its own name resolve to 127.0.0.1; the browser then sends
`Host: evil.example:PORT` with a matching `Origin`, so an origin check alone lets it in.
Answering only the names the server is really reached by (loopback names and addresses,
the address it listens on, and the names given with --allow-host) closes that, as Jupyter
and other local servers do. A server listening on every interface (0.0.0.0, ::) requires
its token anyway; it answers any name unless --allow-host narrows it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def host_name(host: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8188
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostRule:
    def __init__(self, listen: str, allowed: Iterable[str]) -> None:
        self.allowed = {host_name(h) for h in allowed}
        listen = host_name(listen)
        self.any_host = listen in WILDCARDS and not self.allowed
        if listen not in WILDCARDS:
            self.allowed.add(listen)

    def accepts(self, host: str) -> bool:
        if self.any_host:
            return True
        name = host_name(host)
        return is_loopback(name) or name in self.allowed
