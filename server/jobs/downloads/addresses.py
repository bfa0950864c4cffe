"""Which network addresses a video download may connect to.

A provider hands us a ``video_url`` and, when that URL redirects, the storage
host decides where we go next. Left alone, that lets a result URL point the
server at anything it can reach: a service on a private network, the cloud
metadata endpoint, another port on this machine. ``AddressPolicy`` is checked
before every hop of a download (``wan_video_mcp.server.jobs.downloads.fetch.download``): the scheme
must be http(s), and every address the host resolves to must be allowed.

Public (globally routable) addresses are always allowed. A non-public
category ("loopback", "private", "link-local", "other non-public") is allowed
only when the provider's own base URL is in that same category: the simulator
and the tests run the provider on 127.0.0.1, so its videos may come from
loopback, but a redirect from there to 10.0.0.1 is still refused. Cloud
metadata addresses are never allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import httpx

from wan_video_mcp.server.jobs.downloads.failures import DownloadFailed, redact_url

__all__ = [
    "LINK_LOCAL",
    "LOOPBACK",
    "METADATA",
    "OTHER",
    "PRIVATE",
    "PUBLIC",
    "AddressPolicy",
    "Resolver",
    "address_category",
    "pin",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolves (host, port) to address strings; anyio.getaddrinfo unless a test injects one.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

PUBLIC = "public"
LOOPBACK = "loopback"
PRIVATE = "private"
LINK_LOCAL = "link-local"
OTHER = "other non-public"
METADATA = "metadata"

RESOLVE_TIMEOUT_SECONDS = 10.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
# AWS, GCP, Azure, ... answer on 169.254.169.254 (AWS also on fd00:ec2::254, IPv6 on Nitro); Alibaba Cloud's
# ECS metadata service, where a DashScope-side server is likely to run, is 100.100.100.200.
_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DESCRIBED = {
    LOOPBACK: "a loopback address",
    PRIVATE: "a private address",
    LINK_LOCAL: "a link-local address",
    OTHER: "a non-public address",
    METADATA: "a cloud metadata address",
}


def address_category(address: str | IPAddress) -> str:
    """``PUBLIC``, ``LOOPBACK``, ``PRIVATE``, ``LINK_LOCAL``, ``METADATA`` or ``OTHER`` for one IP address.

    IPv6 forms that carry an IPv4 address (``::ffff:10.0.0.1``, NAT64, 6to4)
    are judged by that IPv4 address. Raises ValueError for a non-address.
    """
    ip = _unwrap(ipaddress.ip_address(address) if isinstance(address, str) else address)
    if ip in _METADATA:
        return METADATA
    if ip.is_loopback:
        return LOOPBACK
    if ip.is_link_local:
        return LINK_LOCAL
    if any(ip.version == net.version and ip in net for net in _PRIVATE_NETWORKS):
        return PRIVATE
    # is_global alone is not enough: Python counts multicast (224/4, ff00::/8) as global.
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip.is_private or not ip.is_global:
        return OTHER
    return PUBLIC


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class AddressPolicy:
    """The non-public address categories a download may reach, besides public addresses.

    Build it with ``for_base_url`` from the provider's configured base URL;
    ``resolve`` is replaceable so tests never ask a real DNS server.
    """

    allowed: frozenset[str] = frozenset()
    resolve: Resolver = field(default=_getaddrinfo, compare=False, repr=False)

    @classmethod
    def for_base_url(cls, base_url: str | None) -> AddressPolicy:
        """The policy for a provider at ``base_url``: its own host's category, if non-public, is allowed too.

        Only an IP literal or ``localhost`` names a category without DNS; a
        host name (the real providers) gives the public-only policy, as does
        None or a URL that does not parse.
        """
        if not base_url:
            return cls()
        try:
            host = httpx.URL(base_url).host
        except httpx.InvalidURL:
            return cls()
        if host == "localhost" or host.endswith(".localhost"):
            return cls(frozenset({LOOPBACK}))
        try:
            category = address_category(host)
        except ValueError:
            return cls()
        if category in (PUBLIC, METADATA):
            return cls()
        return cls(frozenset({category}))

    @classmethod
    async def resolved_for(cls, base_url: str | None, resolve: Resolver | None = None) -> AddressPolicy:
        """Like ``for_base_url``, but a host name is resolved: a gateway at ``http://newapi.lan`` (a private
        address) may serve its videos from private addresses. A failed lookup gives the public-only policy."""
        resolve = resolve or _getaddrinfo
        literal = cls.for_base_url(base_url)
        try:
            url = httpx.URL(base_url or "")
        except httpx.InvalidURL:
            return cls(resolve=resolve)
        if literal.allowed or not url.host or url.scheme not in _DEFAULT_PORTS:
            return cls(literal.allowed, resolve=resolve)
        try:
            with anyio.fail_after(RESOLVE_TIMEOUT_SECONDS):
                found = await resolve(url.host, url.port or _DEFAULT_PORTS[url.scheme])
            categories = {address_category(address.split("%", 1)[0]) for address in found}
        except (OSError, TimeoutError, UnicodeError, ValueError):
            return cls(resolve=resolve)
        return cls(frozenset(categories - {PUBLIC, METADATA}), resolve=resolve)

    def allows(self, category: str) -> bool:
        """Whether an address of ``category`` may serve a video under this policy."""
        return category == PUBLIC or (category != METADATA and category in self.allowed)

    async def check(self, url: httpx.URL) -> list[str]:
        """The addresses ``url``'s host resolves to, all allowed; raises ``DownloadFailed`` unless ``url`` is
        http(s) and every one of them is allowed. Connect to one of these (``pin``), not to a fresh lookup."""
        shown = redact_url(url)
        if url.scheme not in _DEFAULT_PORTS:
            raise _failure(
                f"the video URL {shown} is not http(s) ({url.scheme or 'no scheme'}); only http and https may "
                "serve a video",
                retryable=False,
            )
        host = url.host
        if not host:
            raise _failure(f"the video URL {shown} names no host", retryable=False)
        addresses = await self._addresses(host, url.port or _DEFAULT_PORTS[url.scheme], shown)
        for address in addresses:
            category = address_category(address)
            if self.allows(category):
                continue
            if category == METADATA:
                rule = "it may never serve a video"
            elif self.allowed:
                rule = f"only public and {', '.join(sorted(self.allowed))} addresses may serve a video"
            else:
                rule = "only public addresses may serve a video"
            unwrapped = str(_unwrap(ipaddress.ip_address(address)))
            named = address if unwrapped == address else f"{address} ({unwrapped})"
            raise _failure(
                f"the video URL {shown} resolves to {named}, {_DESCRIBED[category]}; {rule}", retryable=False
            )
        return addresses

    async def _addresses(self, host: str, port: int, shown: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            with anyio.fail_after(RESOLVE_TIMEOUT_SECONDS):
                found = list(await self.resolve(host, port))
        except TimeoutError as exc:
            raise _failure(
                f"could not resolve host {host} of {shown}: no answer in {RESOLVE_TIMEOUT_SECONDS:g} s", retryable=True
            ) from exc
        except UnicodeError as exc:
            raise _failure(f"the host of {shown} is not a valid host name", retryable=False) from exc
        except OSError as exc:
            raise _failure(f"could not resolve host {host} of {shown}: {exc.strerror or exc}", retryable=True) from exc
        valid = []
        for address in found:
            try:
                valid.append(str(ipaddress.ip_address(address.split("%", 1)[0])))
            except ValueError:
                continue
        if not valid or len(valid) != len(found):
            raise _failure(f"could not resolve host {host} of {shown} to IP addresses", retryable=True)
        return valid


def pin(request: httpx.Request, addresses: Sequence[str]) -> httpx.Request:
    """``request`` sent to the first vetted address instead of its host name, so a second DNS answer (a
    rebinding attack) cannot send it elsewhere: the Host header and, for https, the TLS server name (also
    used to verify the certificate) stay the host name."""
    host = request.url.host
    try:
        ipaddress.ip_address(host)
        return request  # already an address: nothing is looked up again
    except ValueError:
        pass
    request.url = request.url.copy_with(host=addresses[0])
    if request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}
    return request


def _failure(message: str, *, retryable: bool) -> DownloadFailed:
    return DownloadFailed(message, retryable=retryable)
