"""Cool-offs after failed sign-ins, per account and per client IP.

Each key may fail a few times freely; after that every further failure starts a pause that
doubles, up to an hour, and a success on the account clears its count. Nothing locks for good,
and the account's pause does not apply at addresses it signed in from before: an attacker can
slow a person down, never shut them out. Counts live in the shared cache
(database or Redis), so every worker sees the same ones. The account key is the name as typed,
known or not, so the answer never tells whether an account exists.
"""

import hashlib
import ipaddress
import time

from django.core.cache import cache

FREE_FAILURES = {"account": 5, "ip": 20}
FIRST_PAUSE = 60
LONGEST_PAUSE = 3600
MEMORY = 24 * 3600  # a key forgets its failures a day after the last one
KNOWN_FOR = 90 * 24 * 3600  # how long an address an account signed in from stays known


def _key(kind: str, value: str) -> str:
    # Hashed: a mistyped password in the username box must not sit in the cache in clear.
    return f"signin-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _network(ip: str | None) -> str:
    """An IPv6 client counts by its /64: one household or server holds billions of addresses."""
    if ip and ":" in ip:
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)
    return ip or "unknown"


def _keys(username: str, ip: str | None) -> dict[str, str]:
    return {"account": _key("account", username.strip().casefold()),
            "ip": _key("ip", _network(ip))}


def _known_key(username: str, ip: str | None) -> str:
    return _key("known", f"{username.strip().casefold()}|{_network(ip)}")


def pause_left(username: str, ip: str | None) -> int:
    """Seconds until this account and this address may try again (0: now). An address the
    account signed in from before is not held back by the account's pause, so an attacker
    elsewhere who keeps failing cannot keep the owner out; its own failures still count."""
    now = time.time()
    keys = _keys(username, ip)
    if cache.get(_known_key(username, ip)):
        keys.pop("account")
    states = cache.get_many(list(keys.values())).values()
    return max((int(state["until"] - now) + 1 for state in states if state["until"] > now),
               default=0)


def failed(username: str, ip: str | None) -> list[str]:
    """Count a failure; returns the kinds of key ("account", "ip") that now start a pause."""
    now = time.time()
    pausing = []
    for kind, key in _keys(username, ip).items():
        state = cache.get(key) or {"failures": 0, "until": 0}
        state["failures"] += 1
        over = state["failures"] - FREE_FAILURES[kind]
        if over >= 0:
            state["until"] = now + min(FIRST_PAUSE * 2 ** min(over, 16), LONGEST_PAUSE)
            pausing.append(kind)
        cache.set(key, state, MEMORY)
    return pausing


def succeeded(username: str, ip: str | None) -> None:
    """The account's own count ends with a good password, and the address becomes a known one
    for it; the address keeps its count, so a guesser cannot reset it by signing in to an
    account of their own now and then."""
    cache.delete(_key("account", username.strip().casefold()))
    cache.set(_known_key(username, ip), 1, KNOWN_FOR)
