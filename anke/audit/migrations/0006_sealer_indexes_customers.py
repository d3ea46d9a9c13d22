"""The customer index of the trail is written by the sealer, after sealing, no longer by the
request that records an event; ``SealState.indexed`` is how far it got.

Every event before this migration was indexed when it was written, so the sealer starts after
the sealed ones. Events still unsealed now get their rows a second time when sealed: the index
may name an event twice, which every reader of it (an ``IN`` subquery) ignores.
"""

from django.db import migrations, models
from django.db.models import F


def start_after_the_sealed(apps, schema_editor):
    apps.get_model("audit", "SealState").objects.update(indexed=F("size"))


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
        migrations.RunPython(start_after_the_sealed, migrations.RunPython.noop),
    ]
