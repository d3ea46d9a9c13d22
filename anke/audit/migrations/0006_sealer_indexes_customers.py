"""The customer index of the trail is written by the sealer, after sealing, no longer by the
request that records an event; ``SealState.indexed`` is how far it got.

Events recorded by the old code were indexed as they were written; the sealer starts at the
first sealed event naming customers that has no index row (one recorded by new code and sealed
by an old sealer during the upgrade), else after the sealed ones. Events still unsealed now get
their rows a second time when sealed: the index may name an event twice, which every reader of it
(an ``IN`` subquery) ignores. Going back, the old code reads the index alone: every event it
lacks is indexed first.
"""

import uuid

from django.db import migrations, models
from django.db.models import Exists, OuterRef


def _missing_index(apps):
    """Events naming customers that have no index row (an anti-join: NOT EXISTS, which both
    databases run as one pass, where NOT IN over millions of index rows may not be)."""
    event = apps.get_model("audit", "AuditEvent")
    indexed = apps.get_model("audit", "EventCustomer").objects.filter(event_id=OuterRef("pk"))
    return event.objects.exclude(customer_ids=[]).filter(~Exists(indexed))


def start_where_the_index_stops(apps, schema_editor):
    first = (_missing_index(apps).filter(leaf_index__isnull=False).order_by("leaf_index")
             .values_list("leaf_index", flat=True).first())
    for state in apps.get_model("audit", "SealState").objects.all():
        state.indexed = state.size if first is None else min(first, state.size)
        state.save(update_fields=["indexed"])


def index_everything_for_the_old_code(apps, schema_editor):
    index = apps.get_model("audit", "EventCustomer")
    rows = []
    for event_id, customers in _missing_index(apps).values_list("id", "customer_ids"):
        for customer in customers if isinstance(customers, list) else ():
            try:
                rows.append(index(event_id=event_id, customer_id=uuid.UUID(str(customer))))
            except ValueError:
                continue  # not an id record() wrote: no customer to find it by
    index.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0005_sequence_not_negative"),
    ]

    operations = [
        migrations.AddField(
            model_name="sealstate",
            name="indexed",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(start_where_the_index_stops, index_everything_for_the_old_code),
    ]
