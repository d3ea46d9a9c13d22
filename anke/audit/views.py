"""The audit viewer: the trail filtered and paged, one customer's access history, and exports.

Only ``audit.view`` opens these pages; a refusal is itself recorded. The auditor's own reads are
recorded too (``audit.list``, ``audit.export``), naming the filters used but never their values.
Events name customers by id only: nothing here reads customer data.
"""

import csv
import datetime
import uuid

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from anke.access.catalogue import SHIPPED_ROLES
from anke.access.guarded import require_permission
from anke.audit.catalogue import Event, Outcome
from anke.audit.forms import AuditFilterForm
from anke.audit.models import AuditEvent
from anke.audit.offline import canonical_json
from anke.audit.recorder import record
from anke.audit.sealing import documents
from anke.core.context import Actor

PAGE_SIZE = 50
EXPORT_CAP = 100_000
EXPORT_CHUNK = 500
EXPORT_FORMATS = ("csv", "jsonl")
# Cells a spreadsheet would run as a formula (SECURITY.md §4.9) get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
CSV_COLUMNS = ("id", "seq", "at", "actor", "roles", "auth_method", "ip", "action", "action_label",
               "object_type", "object_ids", "customer_ids", "fields", "outcome", "reason")
CUSTOMER_PLACEHOLDER = uuid.UUID(int=0)


def _page(queryset, cursor: int | None):
    """Newest first by id (the insertion order, on the primary key), ``PAGE_SIZE`` at a time."""
    queryset = queryset.order_by("-id").select_related("leaf")
    if cursor:
        queryset = queryset.filter(id__lt=cursor)
    rows = list(queryset[: PAGE_SIZE + 1])
    next_cursor = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], next_cursor


def _rows(events) -> list[dict]:
    """The cells of the table, labels looked up once per page rather than once per row."""
    actions = {value: str(label) for value, label in Event.choices}
    outcomes = {value: str(label) for value, label in Outcome.choices}
    roles = {code: str(role.label) for code, role in SHIPPED_ROLES.items()}
    history = reverse("audit:customer", args=[CUSTOMER_PLACEHOLDER]).replace(
        str(CUSTOMER_PLACEHOLDER), "{}")
    return [{
        "event": e,
        "action_label": actions.get(e.action, e.action),
        "outcome_label": outcomes.get(e.outcome, e.outcome),
        "roles": [roles.get(code, code) for code in e.roles.split(",") if code],
        "customers": [(history.format(c), c) for c in e.customer_ids],
    } for e in events]


def _list_page(request, actor: Actor, form: AuditFilterForm, status: int = 200):
    """Render the viewer for ``form`` and record the read before the events are shown."""
    events, next_cursor, cursor = [], None, None
    if not form.is_bound or form.is_valid():
        queryset = AuditEvent.objects.all()
        if form.is_bound:
            queryset = form.apply(queryset)
            cursor = form.position()
        events, next_cursor = _page(queryset, cursor)
    record(actor, Event.AUDIT_LIST, object_type="auditevent",
           object_ids=[e.pk for e in events], fields=form.used_filters())
    return render(request, "audit/list.html", {
        "form": form, "rows": _rows(events), "next_cursor": next_cursor, "paged": bool(cursor),
        "export_cap": EXPORT_CAP,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def event_list(request):
    """The trail, newest first, filtered by what the POSTed form names."""
    actor = Actor.from_request(request)
    require_permission(actor, "audit.view", Event.AUDIT_LIST, AuditEvent)
    form = AuditFilterForm(request.POST if request.method == "POST" else None)
    return _list_page(request, actor, form)


@login_required
@require_GET
def customer_history(request, customer_id):
    """Every event naming one customer: who accessed it, tried to, or changed it. Ids only."""
    actor = Actor.from_request(request)
    require_permission(actor, "audit.view", Event.AUDIT_LIST, AuditEvent)
    raw_cursor = request.GET.get("cursor", "")
    ok = raw_cursor.isascii() and raw_cursor.isdigit() and len(raw_cursor) < 19  # not "²"
    cursor = int(raw_cursor) if ok else None
    events, next_cursor = _page(AuditEvent.objects.naming_customer(customer_id), cursor)
    # The customer is named by id as the object of the search, not as a customer whose data
    # was read: the auditor sees none, and the history must not fill up with its own viewings.
    record(actor, Event.AUDIT_LIST, object_type="customer", object_ids=[customer_id],
           fields=["customer"])
    return render(request, "audit/customer.html", {
        "customer_id": customer_id, "rows": _rows(events), "next_cursor": next_cursor,
        "paged": bool(cursor),
    })


def neutralised(value) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """The file-like object ``csv.writer`` writes one line to, handed straight back."""

    def write(self, value: str) -> str:
        return value


def _documents(ids: list[int]):
    """The canonical documents (as sealed and verified) of ``ids``, in their order."""
    for start in range(0, len(ids), EXPORT_CHUNK):
        yield from documents(AuditEvent.objects.filter(id__in=ids[start:start + EXPORT_CHUNK])
                             .order_by("-id"), EXPORT_CHUNK)


def _jsonl(ids: list[int]):
    for doc in _documents(ids):
        yield canonical_json(doc) + b"\n"


def _csv(ids: list[int]):
    actions = {value: str(label) for value, label in Event.choices}
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)  # the BOM lets spreadsheets read it as UTF-8
    for doc in _documents(ids):
        yield writer.writerow([neutralised(v) for v in (
            doc["id"], doc["seq"], doc["at"], doc["actor_username"], doc["roles"],
            doc["auth_method"], doc["ip"], doc["action"], actions.get(doc["action"], ""),
            doc["object_type"], doc["object_ids"], doc["customer_ids"], doc["fields"],
            doc["outcome"], doc["reason"])])


@login_required
@require_POST
def export_events(request):
    """The filtered view as CSV or JSON lines, newest first, at most ``EXPORT_CAP`` events.

    The export is recorded (with the number of events) before any of them leaves.
    """
    actor = Actor.from_request(request)
    require_permission(actor, "audit.view", Event.AUDIT_EXPORT, AuditEvent)
    form = AuditFilterForm(request.POST)
    file_format = request.POST.get("format")
    if file_format not in EXPORT_FORMATS:
        form.add_error(None, _("Choose CSV or JSON lines."))
    if not form.is_valid():
        return _list_page(request, actor, form)
    ids = list(form.apply(AuditEvent.objects.all()).order_by("-id")
               .values_list("id", flat=True)[: EXPORT_CAP + 1])
    capped = len(ids) > EXPORT_CAP
    ids = ids[:EXPORT_CAP]
    record(actor, Event.AUDIT_EXPORT, object_type="auditevent", object_ids=[len(ids)],
           fields=form.used_filters(), reason=f"capped at {EXPORT_CAP}" if capped else "")
    stamp = timezone.now().astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"audit-events-{stamp}{f'-first-{EXPORT_CAP}' if capped else ''}.{file_format}"
    if file_format == "csv":
        response = StreamingHttpResponse(_csv(ids), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_jsonl(ids),
                                         content_type="application/jsonl; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Anke-Export-Rows"] = str(len(ids))
    if capped:
        response["X-Anke-Export-Capped"] = str(EXPORT_CAP)
    return response
