import pytest
from django.test import Client
from django.urls import reverse

from anke.audit.models import AuditEvent
from tests.helpers import html
from tests.personas import PASSWORD


def test_argon2id_is_the_production_password_hasher():
    from anke import settings as project_settings  # the module, not the per-test override

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_login_and_logout_are_audited_with_a_session_reference(cast):
    client = Client(REMOTE_ADDR="10.1.2.3")
    response = client.post(reverse("account_login"), {"login": "sales_a", "password": PASSWORD})
    assert response.status_code == 302
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor == cast.sales_a and login.ip == "10.1.2.3"
    assert login.session_ref and client.session.session_key not in login.session_ref
    client.post(reverse("account_logout"))
    assert AuditEvent.objects.filter(action="auth.logout", actor=cast.sales_a).exists()


@pytest.mark.parametrize("username", ["sales_a", "nobody"])
def test_failed_logins_answer_alike_and_never_record_what_was_typed(cast, client, username):
    response = client.post(reverse("account_login"), {"login": username, "password": "wrong" * 4})
    assert response.status_code == 200
    assert "The username and/or password you specified are not correct." in html(response)
    failure = AuditEvent.objects.get(action="auth.login_failed")
    assert failure.outcome == "denied"
    assert "wrong" not in str(failure.__dict__)
    assert failure.object_ids == ([str(cast.sales_a.pk)] if username == "sales_a" else [])


def test_deactivated_user_cannot_log_in(cast, client):
    response = client.post(reverse("account_login"), {"login": "departed", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_pages_need_a_login(client, db):
    for name in ("home", "customers:list", "tokens"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith("/login/")
