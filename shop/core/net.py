"""The client's address, as seen through the reverse proxies we trust.

Behind nginx every request reaches gunicorn from the proxy's address, so REMOTE_ADDR alone
would make every customer one client: one customer's bad passwords would lock out everyone.
The proxy appends the address it saw to X-Forwarded-For, but a client can send that header
too, with anything in it. So the header is read only when the request came from a proxy in
settings.TRUSTED_PROXIES, and from its right end: the right-most address that is not one of
our proxies is the one our outermost proxy saw; everything left of it was written by the
client and is ignored.

One function serves django-axes (AXES_CLIENT_IP_CALLABLE) and django-ratelimit
(RATELIMIT_IP_META_KEY, so key="ip" means this address everywhere).
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def trusted_proxy_networks() -> tuple[IPNetwork, ...]:
    """settings.TRUSTED_PROXIES parsed (addresses or CIDR networks; settings refuse to start with
    anything else)."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def _address(text: str) -> IPAddress | None:
    """An address from a header hop: "203.0.113.5", "2001:db8::1" or "[2001:db8::1]"."""
    text = text.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d: one client, one key.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent `request`.

    REMOTE_ADDR unless it is a trusted proxy; then the right-most X-Forwarded-For address that
    is not a trusted proxy. A malformed hop where the client's address should be falls back to
    REMOTE_ADDR rather than let an unparsable string become a rate-limit key."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = trusted_proxy_networks()
    if not networks:
        return remote
    remote_address = _address(remote)
    if not _trusted(remote_address, networks):
        return remote  # a direct client: whatever it put in X-Forwarded-For is its own invention
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote
        if not _trusted(address, networks):
            return str(address)
    # Only proxies in the chain (a health check from the proxy itself, say): the left-most.
    first = _address(hops[0]) if hops else None
    return str(first) if first is not None else str(remote_address)
