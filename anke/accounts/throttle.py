"""Cool-offs after failed sign-ins, per account and per client IP.

Each key may fail a few times freely; after that every further failure starts a pause that
doubles, up to an hour, and a success on the account clears its count. Nothing locks for good:
an attacker can slow a person down, never shut them out. Counts live in the shared cache
(database or Redis), so every worker sees the same ones. The account key is the name as typed,
known or not, so the answer never tells whether an account exists.
"""

import hashlib
import time

from django.core.cache import cache

FREE_FAILURES = {"account": 5, "ip": 20}
FIRST_PAUSE = 60
LONGEST_PAUSE = 3600
MEMORY = 24 * 3600  # a key forgets its failures a day after the last one


def _key(kind: str, value: str) -> str:
    # Hashed: a mistyped password in the username box must not sit in the cache in clear.
    return f"signin-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _keys(username: str, ip: str | None) -> dict[str, str]:
    return {"account": _key("account", username.strip().casefold()),
            "ip": _key("ip", ip or "unknown")}


def pause_left(username: str, ip: str | None) -> int:
    """Seconds until this account and this address may try again (0: now)."""
    now = time.time()
    states = cache.get_many(list(_keys(username, ip).values())).values()
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


def succeeded(username: str) -> None:
    """The account's own count ends with a good password; the address keeps its count, so a
    guesser cannot reset it by signing in to an account of their own now and then."""
    cache.delete(_key("account", username.strip().casefold()))
