import time
from datetime import date

import pytest
from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY as AUTHENTICATION_METHODS_USER_SESSION_KEY,
)
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from anke.encryption.fields import EncryptedMixin
from tests.personas import build_cast

# Fails a full run when a catalogue entry is emitted by no test (issue 5).
pytest_plugins = ["tests.audit_coverage"]


@pytest.fixture(scope="session", autouse=True)
def _test_key_file(tmp_path_factory):
    """Test databases are encrypted under a key file of their own, never the developer's.
    (Autouse session fixtures run before the test database is created.)"""
    django_settings.MASTER_KEY_FILE = str(tmp_path_factory.mktemp("keys") / "master.json")
    django_settings.MASTER_KEY_FILE_CREATE = True


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2id is the production hasher (tests/accounts checks it); building the cast for every
    # test with it would cost most of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    # Assertions read English source strings; tests/web/test_i18n.py covers Chinese.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # The hashed manifest exists only after collectstatic, which `anke run` does; tests serve the
    # files from the apps' static folders instead.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _force_login_is_a_full_sign_in(monkeypatch):
    """``Client.force_login`` stands for a complete sign-in, second factor included, as it
    stood before MFA existed. The sign-in itself is tested through its real pages
    (tests/accounts/test_mfa.py, tests/browser/test_sign_in.py)."""
    original = Client._login

    def login_with_second_factor(self, user, backend=None):
        original(self, user, backend)
        session = self.session
        session[AUTHENTICATION_METHODS_SESSION_KEY] = [
            {"method": "mfa", "at": time.time(), "type": "totp"}]
        session[AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
        session.save()

    monkeypatch.setattr(Client, "_login", login_with_second_factor)


@pytest.fixture
def cast(db):
    return build_cast()


@pytest.fixture
def sales_a(cast):
    return cast.sales_a


@pytest.fixture
def sales_b(cast):
    return cast.sales_b


@pytest.fixture
def client_a(client, sales_a):
    """A browser session of sales rep A."""
    client.force_login(sales_a)
    return client


# --- no personal data in clear at rest (SECURITY.md §5) -----------------------------------------
# Every value a test encrypts is remembered; when the test body returns, every column of every
# table (sessions, cache and audit trail included) is searched for it before the test's
# transaction is rolled back.

_encrypted_values: set[str] = set()
_original_encode = EncryptedMixin.encode


def _remembering_encode(self, value):
    text = "" if value is None else str(value)
    if len(text) >= 6 and not isinstance(value, date):
        _encrypted_values.add(text)
        if text.startswith("+86"):
            _encrypted_values.add(text[3:])  # the national form of a Chinese number
    return _original_encode(self, value)


EncryptedMixin.encode = _remembering_encode


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    _encrypted_values.clear()
    try:
        result = yield
    finally:
        if _encrypted_values:
            found = _plaintext_at_rest(_encrypted_values)
            assert not found, f"personal data stored in clear: {found[:5]}"
    # Reached only when the test passed: a failure of its own is the better message.
    if tripwire.active and (findings := tripwire.findings()):
        pytest.fail("audit tripwire: protected rows written without an audit event in the "
                    "same transaction (DESIGN.md §2 rule 1):\n  " + "\n  ".join(findings),
                    pytrace=False)
    return result


def _plaintext_at_rest(values: set[str]) -> list[tuple[str, str]]:
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - introspected names
            for row in cursor.fetchall():
                text = "\x1f".join(map(str, row))
                found += [(table, value) for value in values if value in text]
    return found


# --- audit tripwire (STYLE.md "Tests", DESIGN.md §2 rule 1) --------------------------------------
# Every write of a protected model must happen inside an atomic block that also writes an audit
# event: the transaction of a domain action. Each protected write and each audit insert is tagged
# with the action's transaction: the outermost atomic block above the ones pytest-django opens
# around a test (Django marks those ``_from_testcase``; transactional tests have none), together
# with its savepoint id, which is unique on the connection. A write made with no such block (in
# autocommit, or straight in the test's own transaction) is tagged None and never matches. When
# the test body returns, every write whose tag saw no audit insert fails the test, naming the
# model, how it was written and where.
#
# Protected: the customer data and everything that decides who may see it or read it.
#   customers: Customer, ContactPerson, Tag, and the customer-tag links
#   sales: Deal, Activity, Task, Order; service: Ticket
#   accounts: User (and its role links), Department, Region, ApiToken
#   access: Role; sales: PipelineStage (reference data shipped by migrations: no action writes
#     them, so any write in a test run is one no action audited)
#   encryption: DataKey, Erasure (issuing, rotating and destroying keys; the erasure ledger)
# Not protected: the audit trail itself; KeyCheck (check values of the key file, written at
# start) and KeyRotation (a run's progress: the run is audited when it starts and finishes);
# sessions, caches and Django's own tables.
#
# Signals cover save(), delete() (cascades included) and many-to-many changes. bulk_create(),
# bulk_update() and QuerySet.update() send no signals, so they are wrapped below for the same
# models; raw SQL (rotation's batched UPDATEs) is seen by neither. Rows loaded from fixtures or a
# serialized rollback (``raw`` saves) are not writes of the application.
#
# Exempt: Django's own ``last_login`` stamp on login (the login is audited by
# accounts.signals), the API token's ``last_used_at``/``last_used_ip`` stamps (the request is
# audited by what it reads or writes) and rows written by migrations (historical models). A test
# that writes protected rows on purpose, outside any action (to stage an attacker's tampering or a
# state no action produces), says so with ``@pytest.mark.no_tripwire`` or ``with tripwire_off():``
# around just those writes.

import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from django.apps import apps  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import QuerySet, signals  # noqa: E402

from anke.audit.models import AuditEvent  # noqa: E402

PROTECTED = frozenset({
    "customers.Customer", "customers.ContactPerson", "customers.Tag",
    "sales.Deal", "sales.Activity", "sales.Task", "sales.Order", "sales.PipelineStage",
    "service.Ticket",
    "accounts.User", "accounts.Department", "accounts.Region", "accounts.ApiToken",
    "access.Role",
    "encryption.DataKey", "encryption.Erasure",
})
# (model label, the only fields written) of bookkeeping stamps that are not actions.
EXEMPT_STAMPS = frozenset({
    ("accounts.User", frozenset({"last_login"})),
    ("accounts.ApiToken", frozenset({"last_used_at", "last_used_ip"})),
})
_ROOT = Path(__file__).resolve().parent.parent
_NOT_THE_WRITER = {str(Path(__file__).resolve()), str(_ROOT / "tests" / "audit_coverage.py")}


class Tripwire:
    """What the current test wrote, by transaction; see the comment above."""

    def __init__(self):
        self.active = False
        self.off = 0
        self.writes: list[tuple] = []  # (tag, label, how, where)
        self.audited: set = set()

    def start(self):
        self.active, self.writes, self.audited = True, [], set()

    def stop(self):
        self.active, self.writes, self.audited = False, [], set()

    def watching(self) -> bool:
        return self.active and not self.off

    def write(self, using: str, model, how: str):
        if model.__module__ == "__fake__":  # a migration's historical model
            return
        self.writes.append((_transaction_tag(using), model._meta.label, how, _where()))

    def audit(self, using: str):
        tag = _transaction_tag(using)
        if tag is not None:
            self.audited.add(tag)

    def findings(self) -> list[str]:
        found = []
        for tag, label, how, where in self.writes:
            if tag is None:
                found.append(f"{label} {how} outside any transaction of its own (not in a "
                             f"domain action), at {where}")
            elif tag not in self.audited:
                found.append(f"{label} {how} in a transaction that wrote no audit event, "
                             f"at {where}")
        return list(dict.fromkeys(found))


tripwire = Tripwire()


def _transaction_tag(using: str):
    """The transaction of the action in progress on this connection, or None if there is none:
    the outermost atomic block above the test case's own, and its savepoint id."""
    connection = connections[using]
    blocks = connection.atomic_blocks
    base = 0
    while base < len(blocks) and blocks[base]._from_testcase:
        base += 1
    if base >= len(blocks):
        return None
    # savepoint_ids[i] belongs to atomic_blocks[i + 1]; the outermost block has none.
    sid = connection.savepoint_ids[base - 1] if base else None
    return (connection, blocks[base], sid)  # the objects themselves: identity, kept alive


def _where() -> str:
    """Where the write was made: the application frames (innermost first, the first three
    named) and the test's line."""
    frame, app, test = sys._getframe(2), [], None
    while frame is not None and test is None:
        name = frame.f_code.co_filename
        if name.startswith(str(_ROOT / "anke")):
            if len(app) < 3:
                path = Path(name).relative_to(_ROOT)
                app.append(f"{path}:{frame.f_lineno} {frame.f_code.co_name}")
        elif name.startswith(str(_ROOT / "tests")) and name not in _NOT_THE_WRITER:
            test = f"{Path(name).relative_to(_ROOT)}:{frame.f_lineno}"
        frame = frame.f_back
    return " ← ".join([*app, test or "?"])


@contextmanager
def tripwire_off():
    """Writes inside are made on purpose outside any action (fixtures, staged tampering)."""
    tripwire.off += 1
    try:
        yield
    finally:
        tripwire.off -= 1


def _protected_models():
    return [apps.get_model(label) for label in sorted(PROTECTED)]


def _on_save(sender, instance, created, raw, using, update_fields=None, **kwargs):
    if raw or not tripwire.watching():
        return
    label = sender._meta.label
    if update_fields is not None and (label, frozenset(update_fields)) in EXEMPT_STAMPS:
        return
    tripwire.write(using, sender, "created" if created else "saved")


def _on_delete(sender, instance, using, origin=None, **kwargs):
    if tripwire.watching():
        tripwire.write(using, sender, "deleted")


def _on_m2m(sender, instance, action, using, **kwargs):
    if action.startswith("post_") and tripwire.watching():
        tripwire.write(using, sender, f"changed ({action[5:]})")


def _on_audit(sender, created, raw, using, **kwargs):
    if created and not raw and tripwire.active:
        tripwire.audit(using)


for _model in _protected_models():
    # Per sender: a post_delete receiver for every model would turn Django's fast deletes
    # (of audit events by retention, for one) into row-by-row ones.
    signals.post_save.connect(_on_save, sender=_model, dispatch_uid=f"tripwire-{_model}")
    signals.post_delete.connect(_on_delete, sender=_model, dispatch_uid=f"tripwire-d-{_model}")
    for _field in _model._meta.local_many_to_many:
        signals.m2m_changed.connect(_on_m2m, sender=_field.remote_field.through,
                                    dispatch_uid=f"tripwire-m-{_model}-{_field.name}")
signals.post_save.connect(_on_audit, sender=AuditEvent, dispatch_uid="tripwire-audit")

_original_bulk_create = QuerySet.bulk_create
_original_bulk_update = QuerySet.bulk_update
_original_update = QuerySet.update


def _bulk_create(self, objs, *args, **kwargs):
    created = _original_bulk_create(self, objs, *args, **kwargs)
    label = self.model._meta.label
    if created and tripwire.active:
        if self.model is AuditEvent:
            tripwire.audit(self.db)
        elif label in PROTECTED and not tripwire.off:
            tripwire.write(self.db, self.model, f"bulk-created ({len(created)} rows)")
    return created


def _bulk_update(self, objs, fields, *args, **kwargs):
    label = self.model._meta.label
    if tripwire.watching() and label in PROTECTED and objs:
        tripwire.write(self.db, self.model, f"bulk-updated ({', '.join(sorted(fields))})")
        with tripwire_off():  # it updates through QuerySet.update: one finding is enough
            return _original_bulk_update(self, objs, fields, *args, **kwargs)
    return _original_bulk_update(self, objs, fields, *args, **kwargs)


def _update(self, **kwargs):
    rows = _original_update(self, **kwargs)
    label = self.model._meta.label
    if (rows and tripwire.watching() and label in PROTECTED
            and (label, frozenset(kwargs)) not in EXEMPT_STAMPS):
        tripwire.write(self.db, self.model, f"updated in bulk ({', '.join(sorted(kwargs))})")
    return rows


QuerySet.bulk_create = _bulk_create
QuerySet.bulk_update = _bulk_update
QuerySet.update = _update


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "no_tripwire: the test writes protected rows on purpose outside any "
        "action (see the audit tripwire in tests/conftest.py)")


@pytest.fixture(autouse=True)
def _audit_tripwire(request):
    if request.node.get_closest_marker("no_tripwire"):
        yield
        return
    tripwire.start()
    yield
    tripwire.stop()
