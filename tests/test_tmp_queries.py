from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def test_q(client, cast):
    client.force_login(cast.manager)
    client.get(reverse("service:list"))
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("service:list"))
    for q in ctx.captured_queries:
        print("Q:", q["sql"][:230])
