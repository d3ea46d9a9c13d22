"""Who is acting: the context every action and audited read receives.

An ``Actor`` carries the user plus the facts the audit trail needs (IP, user agent, request id,
how they authenticated). Web views and the API build it from the request; the CLI and background
jobs build it with ``Actor.system``.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    user: Any
    ip: str | None = None
    user_agent: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    auth_method: str = "system"
    session_ref: str = ""
    token_id: int | None = None
    # A session that has shown a second factor (at sign-in or since): what creating an API
    # token asks for. ``confirmed_at``: when the person last proved who they are (a second
    # factor, or the password for someone without one), for step-up (access.guarded).
    second_factor: bool = False
    confirmed_at: float | None = None

    @classmethod
    def from_request(cls, request) -> "Actor":
        from anke.accounts.mfa import (  # accounts builds on core
            last_confirmed,
            session_mfa_verified,
        )

        auth = getattr(request, "auth", None)
        token_id = getattr(auth, "pk", None)
        session_key = getattr(getattr(request, "session", None), "session_key", None) or ""
        # A hash, never the session key itself: the trail must not hand out live sessions.
        session_ref = hashlib.sha256(session_key.encode()).hexdigest()[:16] if session_key else ""
        return cls(
            user=getattr(request, "user", None),
            ip=getattr(request, "client_ip", None),
            user_agent=request.headers.get("User-Agent", "")[:300],
            request_id=getattr(request, "request_id", uuid.uuid4().hex),
            auth_method="token" if token_id else ("session" if session_key else "anonymous"),
            session_ref=session_ref,
            token_id=token_id,
            second_factor=bool(session_key) and not token_id and session_mfa_verified(request),
            confirmed_at=last_confirmed(request) if session_key and not token_id else None,
        )

    @property
    def is_operator(self) -> bool:
        """The shell operator (CLI, migrations): trusted by having the server, not by a role."""
        return self.user is None and self.auth_method == "cli"

    @classmethod
    def system(cls, user=None, *, method: str = "cli") -> "Actor":
        return cls(user=user, auth_method=method)
