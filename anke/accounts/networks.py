"""IP allowlists: the networks (CIDR) a user may sign in and work from.

A user and each of their roles may name networks; an empty list means anywhere. Every non-empty
list must admit the client's address: restrictions add up, unlike permissions, so holding a
second, unrestricted role never lifts the first one's restriction. The client address is the one
core.middleware trusts (``ANKE_TRUSTED_PROXY_HOPS``), never a header the client wrote.
"""

import ipaddress
from functools import lru_cache

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from anke.access.policy import roles_of

MAX_NETWORKS = 100


def parse_allowlist(value, field: str = "ip_allowlist") -> list[str]:
    """Networks from a list or from text (one per line or comma-separated), normalised
    (``10.1.2.3/24`` → ``10.1.2.0/24``); a ValidationError on ``field`` names the bad ones."""
    if isinstance(value, str):
        value = value.replace(",", "\n").splitlines()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationError({field: _("Give a list of networks such as 10.0.0.0/8.")})
    networks, bad = [], []
    for entry in (v.strip() for v in value):
        if not entry:
            continue
        try:
            network = str(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            bad.append(entry[:50])
        else:
            if network not in networks:
                networks.append(network)
    if bad:
        raise ValidationError({field: _("Not a network: %(entries)s") % {
            "entries": ", ".join(bad)}})
    if len(networks) > MAX_NETWORKS:
        raise ValidationError({field: _("At most %(max)d networks.") % {"max": MAX_NETWORKS}})
    return networks


@lru_cache(maxsize=4096)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def allowlists_of(user) -> list[list[str]]:
    return [entries for entries in (user.ip_allowlist, *(r.ip_allowlist for r in roles_of(user)))
            if entries]


def allowed_from(user, ip: str | None) -> bool:
    lists = allowlists_of(user)
    if not lists:
        return True
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return all(any(address in network for network in _networks(tuple(entries)))
               for entries in lists)


def loosens(before: list[str], after: list[str]) -> bool:
    """Whether ``after`` admits an address ``before`` did not (approximately: a network not
    inside one of the old ones, or no list at all where there was one)."""
    if not before:
        return False
    if not after:
        return True
    old = _networks(tuple(before))
    return any(not any(new.version == o.version and new.subnet_of(o) for o in old)
               for new in _networks(tuple(after)))


class AllowlistField(forms.CharField):
    """Networks, one per line; cleans to the normalised list the actions take."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=5000, **kwargs)

    def clean(self, value):
        try:
            return parse_allowlist(super().clean(value))
        except ValidationError as error:
            raise ValidationError(error.message_dict["ip_allowlist"]) from None
