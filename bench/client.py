"""A browser-shaped HTTP client (cookies, CSRF) on http.client, and the timed measurements.

Latency is measured from sending the request to having read the whole body, as a browser
would wait for the HTML. gunicorn's sync workers close the connection after every response,
so each request includes a loopback TCP connect (tens of microseconds).
"""

import base64
import hashlib
import hmac
import http.client
import random
import re
import statistics
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from bench.db import BenchError

SECOND_FACTOR = "/2fa/authenticate/"
LIST_ROW = re.compile(rb'<tr><td><a href="/customers/([0-9a-f-]{36})/">')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def snippet(self) -> str:
        text = self.body.decode("utf-8", "replace")
        text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        return re.sub(r"\s+", " ", text).strip()[:300]


class Session:
    """One browser: its own connection and cookie jar."""

    def __init__(self, host: str, port: int, *, timeout: float, cookies: dict | None = None):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.cookies: dict[str, str] = dict(cookies or {})

    def close(self) -> None:
        self.conn.close()

    def fork(self) -> "Session":
        """Another connection sharing this session's login (a second tab)."""
        return Session(self.host, self.port, timeout=self.timeout, cookies=self.cookies)

    def request(self, method: str, path: str, fields: dict | None = None) -> Response:
        headers = {"Accept": "text/html", "Accept-Language": "zh-hans",
                   "User-Agent": "anke-bench"}
        body = None
        if fields is not None:
            fields = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **fields}
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{self.host}:{self.port}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request reconnects
            raise
        seconds = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or ():
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Response(response.status, response.headers, data, seconds)


def totp(secret: str, at: float) -> str:
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, as an authenticator app
    shows it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**6:06d}"


def login(host: str, port: int, username: str, password: str, *, timeout: float,
          totp_secret: str | None = None) -> Session:
    """Sign in as a person would: password, then the authenticator code when asked for one
    (the demo accounts share one TOTP secret; a baseline checkout asks for none)."""
    session = Session(host, port, timeout=timeout)
    page = session.request("GET", "/login/")
    if page.status != 200 or "csrftoken" not in session.cookies:
        raise BenchError(f"GET /login/ answered {page.status} without a CSRF cookie")
    # "login" is the field's name since allauth, "username" before (a baseline checkout).
    answer = session.request("POST", "/login/", {"login": username, "username": username,
                                                "password": password, "next": ""})
    if answer.status != 302 or "sessionid" not in session.cookies:
        raise BenchError(f"login as {username} failed ({answer.status}): {answer.snippet()}")
    second_step = answer.headers.get("Location", "")
    if SECOND_FACTOR in second_step:
        if totp_secret is None:
            raise BenchError(f"login as {username} asks for a second factor and the demo "
                             f"TOTP secret (demo-totp.txt) is missing")
        for attempt in range(2):  # a code is taken once: a second sign-in waits for the next
            if attempt:
                time.sleep(30.5 - time.time() % 30)
            answer = session.request("POST", second_step, {"code": totp(totp_secret,
                                                                        time.time())})
            if answer.status == 302:
                break
        else:
            raise BenchError(f"second factor for {username} refused ({answer.status}): "
                             f"{answer.snippet()}")
    return session


# --- scenarios: (session, i, rng) → (method, path, form fields or None, accepted statuses) ----

Scenario = Callable[[Session, int, random.Random], tuple[str, str, dict | None, tuple[int, ...]]]


def list_page(_s, _i, _rng):
    return "GET", "/customers/", None, (200,)


def detail_page(ids: list[str]) -> Scenario:
    if not ids:
        raise BenchError("no visible customers to open")

    def scenario(_s, _i, rng):
        return "GET", f"/customers/{rng.choice(ids)}/", None, (200,)
    return scenario


def search(terms: list[str]) -> Scenario:
    if not terms:
        raise BenchError("no search terms")

    def scenario(_s, i, _rng):
        return "POST", "/customers/", {"q": terms[i % len(terms)]}, (200,)
    return scenario


def create(tag: str, phone_base: int) -> Scenario:
    def scenario(_s, i, _rng):
        fields = {"kind": "individual", "name": f"压测{tag}{i}", "stage": "lead",
                  "source": "other", "phone": f"139{(phone_base + i) % 10**8:08d}"}
        return "POST", "/customers/new/", fields, (302,)
    return scenario


# --- measurements ----------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Measurement:
    name: str
    user: str
    clients: int = 1
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    rows: list[int] = field(default_factory=list)
    stopped_early: bool = False

    def record_error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(text)

    def summary(self) -> dict:
        lat = self.latencies_ms
        return {
            "name": self.name, "user": self.user, "clients": self.clients, "n": len(lat),
            "errors": self.errors, "error_samples": self.error_samples,
            "p50_ms": percentile(lat, 50) if lat else None,
            "p90_ms": percentile(lat, 90) if lat else None,
            "p99_ms": percentile(lat, 99) if lat else None,
            "mean_ms": statistics.fmean(lat) if lat else None,
            "max_ms": max(lat) if lat else None,
            "req_per_s": len(lat) / self.wall_seconds if self.wall_seconds and lat else None,
            "wall_seconds": self.wall_seconds,
            "rows_mean": statistics.fmean(self.rows) if self.rows else None,
            "stopped_early": self.stopped_early,
        }


def _one(session: Session, scenario: Scenario, i: int, rng: random.Random, m: Measurement,
         lock: threading.Lock, *, timed: bool) -> None:
    method, path, fields, accepted = scenario(session, i, rng)
    try:
        response = session.request(method, path, fields)
    except (OSError, http.client.HTTPException) as error:
        with lock:
            m.record_error(f"{method} {path}: {type(error).__name__}: {error}")
        return
    if not timed:
        return
    location = response.headers.get("Location", "")
    with lock:
        if "/login/" in location:
            m.record_error(f"{method} {path} → {response.status} to {location}: logged out?")
        elif response.status in accepted:
            m.latencies_ms.append(response.seconds * 1000)
            if path == "/customers/" and response.status == 200:
                m.rows.append(len(LIST_ROW.findall(response.body)))
        else:
            m.record_error(f"{method} {path} → {response.status}: {response.snippet()}")


def measure(session: Session, name: str, user: str, scenario: Scenario, *, requests: int,
            warmup: int, max_seconds: float, seed: int, clients: int = 1) -> Measurement:
    """``requests`` timed requests per client after ``warmup`` untimed ones per client.

    With ``clients`` > 1 each client is a thread with its own connection sharing the login;
    they start together and the wall time runs until the last one finishes.
    """
    m = Measurement(name, user, clients)
    lock = threading.Lock()
    sessions = [session] if clients == 1 else [session.fork() for _ in range(clients)]
    clock: dict[str, float] = {}

    def start_clock() -> None:  # run once, when every client has warmed up, before any goes
        clock["started"] = time.perf_counter()
        clock["deadline"] = time.monotonic() + max_seconds

    barrier = threading.Barrier(clients, action=start_clock)

    def client(index: int, s: Session) -> None:
        rng = random.Random(seed * 1000 + index)
        for w in range(warmup):
            _one(s, scenario, -1 - w - index * warmup, rng, m, lock, timed=False)
        try:
            barrier.wait(timeout=warmup * 2 * s.timeout + 60)
        except threading.BrokenBarrierError:
            return
        for i in range(requests):
            if time.monotonic() > clock["deadline"]:
                with lock:
                    m.stopped_early = True
                return
            _one(s, scenario, index * requests + i, rng, m, lock, timed=True)

    threads = [threading.Thread(target=client, args=(k, s), daemon=True)
               for k, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        # Every request has its own timeout; this bound only guards against a wedged thread.
        t.join(timeout=warmup * 2 * session.timeout + max_seconds + 2 * session.timeout + 65)
    m.wall_seconds = time.perf_counter() - clock["started"] if clock else 0.0
    for s in sessions:
        if s is not session:
            s.close()
    return m


def measure_interleaved(arms: list[tuple[Session, Scenario]], name: str, user: str, *,
                        requests: int, warmup: int, max_seconds: float,
                        seed: int) -> list[Measurement]:
    """One client per arm (a server each), taking turns request by request.

    Used to time two code versions side by side: load from elsewhere on the machine that comes
    and goes during the run then falls on both alike. The order alternates (A B, B A, …) so
    neither always runs right after the other. Each arm gets ``requests`` timed requests after
    ``warmup`` untimed ones, with the same random choices; ``max_seconds`` bounds each arm's
    share of the wall time.
    """
    results = [Measurement(name, user) for _ in arms]
    lock = threading.Lock()
    rngs = [random.Random(seed * 1000) for _ in arms]
    for w in range(warmup):
        for (session, scenario), rng, m in zip(arms, rngs, results, strict=True):
            _one(session, scenario, -1 - w, rng, m, lock, timed=False)
    started = time.perf_counter()
    deadline = time.monotonic() + max_seconds * len(arms)
    order = list(range(len(arms)))
    for i in range(requests):
        if time.monotonic() > deadline:
            for m in results:
                m.stopped_early = True
            break
        for k in (order if i % 2 == 0 else order[::-1]):
            session, scenario = arms[k]
            _one(session, scenario, i, rngs[k], results[k], lock, timed=True)
    wall = time.perf_counter() - started
    for m in results:
        # Each arm had its turn half the time: its rate is over its own requests' time.
        m.wall_seconds = sum(m.latencies_ms) / 1000 if m.latencies_ms else wall
    return results
