import pytest
from django.test import RequestFactory

from anke.core.middleware import client_ip


@pytest.mark.parametrize(("hops", "forwarded", "remote", "expected"), [
    (0, "1.1.1.1", "10.0.0.1", "10.0.0.1"),            # no proxy trusted: the header is ignored
    (1, "6.6.6.6, 1.1.1.1", "10.0.0.1", "1.1.1.1"),    # the client wrote 6.6.6.6 itself
    (2, "6.6.6.6, 1.1.1.1, 10.0.0.2", "10.0.0.1", "1.1.1.1"),
    (1, "", "10.0.0.1", "10.0.0.1"),
    (1, "not-an-ip", "10.0.0.1", None),
])
def test_client_ip_comes_only_from_trusted_hops(settings, hops, forwarded, remote, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_every_response_carries_a_request_id_and_security_headers(client, db):
    response = client.get("/login/")
    assert len(response["X-Request-ID"]) == 32
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
