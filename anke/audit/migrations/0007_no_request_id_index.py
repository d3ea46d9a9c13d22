"""No index on the request id: nothing looks events up by it, and a random key in an index of
the trail cost every append (and, on PostgreSQL, every sealing UPDATE) a page write."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_sealer_indexes_customers'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='request_id',
            field=models.CharField(blank=True, max_length=32, verbose_name='request id'),
        ),
    ]
