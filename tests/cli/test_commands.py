import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from anke.accounts.models import ApiToken, User
from anke.audit.models import AuditEvent
from anke.customers.models import Customer
from tests.accounts.signing_in import fresh_window, post_password, totp_code
from tests.helpers import opened


def run(*args, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = old_stdin
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_createuser_reads_the_password_from_stdin_and_hashes_it(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    out, _err = run("createuser", "xiaoming", "--role", "sales_rep", "--password-stdin",
                    stdin="a long enough passphrase\n")
    user = User.objects.get(username="xiaoming")
    assert "Created user xiaoming" in out
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password("a long enough passphrase")
    assert [r.code for r in user.roles.all()] == ["sales_rep"]
    assert AuditEvent.objects.filter(action="user.create", auth_method="cli").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--role", "wizard"], "a long enough passphrase\n", "Unknown role: wizard"),
    (["--role", "sales_rep", "--department", "Nowhere"], "", "No department named Nowhere"),
    (["--role", "sales_rep", "--region", "mars"], "", "No region with code mars"),
    (["--role", "sales_rep"], "short\n", "too short"),
])
def test_createuser_refuses_bad_arguments_and_creates_nothing(args, stdin, message):
    with pytest.raises(CommandError, match=message):
        run("createuser", "xiaoming", *args, "--password-stdin", stdin=stdin or "x" * 20)
    assert not User.objects.filter(username="xiaoming").exists()


def test_token_create_prints_the_secret_once_and_stores_its_hash(cast):
    out, err = run("token", "create", "sales_a", "--expires-days", "7")
    secret = out.strip()
    token = ApiToken.objects.get(user=cast.sales_a)
    assert secret.startswith("anke_") and len(secret) > 40
    assert token.digest == ApiToken.digest_of(secret)
    assert secret not in str(token.__dict__)
    assert "expires" in err
    listing, _err = run("token", "list", "sales_a")
    assert secret not in listing and "active" in listing
    run("token", "revoke", str(token.pk))
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize(("args", "message"), [
    (["create", "nobody"], "No user named nobody"),
    (["create", "sales_a", "--expires-days", "0"], "from 1 to 366 days"),
    (["create", "sales_a", "--expires-days", "9999"], "from 1 to 366 days"),
    (["revoke", "424242"], "No token with id 424242"),
    (["revoke", "not-a-number"], "No token with id not-a-number"),
])
def test_token_refuses_bad_arguments(cast, args, message):
    with pytest.raises(CommandError, match=message):
        run("token", *args)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("count", ["-1", "many", "3000000"])
def test_demo_refuses_bad_counts(count):
    with pytest.raises(CommandError, match="--customers must be a whole number"):
        run("demo", "--customers", count)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_demo_loads_customers_for_every_rep_and_prints_the_logins(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out, _err = run("demo", "--customers", "30")
    assert "Loaded 30 customers" in out
    assert "Demo logins" in out and "manager" in out
    assert Customer.objects.count() == 30
    assert Customer.objects.values("owner").distinct().count() == 3
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o777 == 0o600
    # Every value passed the same validation as user input.
    for customer in opened(Customer.objects.all()):
        customer.full_clean()
    run("demo", "--customers", "10")
    assert Customer.objects.count() == 40
    assert User.objects.filter(username="manager").count() == 1


@pytest.mark.django_db
def test_demo_logins_sign_in_with_the_printed_authenticator_key(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="There is no demo authenticator here"):
        run("demo", "--code")
    out, _err = run("demo", "--customers", "0")
    secret = (tmp_path / "demo-totp.txt").read_text().strip()
    assert (tmp_path / "demo-totp.txt").stat().st_mode & 0o777 == 0o600
    assert f"FreeOTP…): {secret}" in out
    password = (tmp_path / "demo-logins.txt").read_text().splitlines()[0].split("\t")[2]
    fresh_window()
    code = run("demo", "--code")[0].strip()
    assert code == totp_code(secret)
    client = Client()
    post_password(client, "manager", password)
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.django_db
def test_run_refuses_a_public_bind_without_tls():
    with pytest.raises(CommandError, match="Refusing to serve on 0.0.0.0 without TLS"):
        run("run", "--bind", "0.0.0.0:8000", "--check")


def test_console_script_is_django_management():
    result = subprocess.run([sys.executable, "-m", "anke.cli", "help", "token"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "create" in result.stdout and "revoke" in result.stdout


@pytest.mark.parametrize(("environ", "language"), [
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh-hans"),
    ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh-hans"),
    ({"LANG": "C.UTF-8"}, None),
    ({}, None),
])
def test_cli_speaks_the_shells_language(environ, language):
    from anke.cli import shell_language

    assert shell_language(environ) == language


def test_console_script_follows_lang():
    result = subprocess.run([sys.executable, "-m", "anke.cli", "demo", "--customers", "-5"],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "LANG": "en_US.UTF-8", "LC_ALL": ""})
    assert result.returncode == 1
    assert "--customers must be a whole number" in result.stderr
