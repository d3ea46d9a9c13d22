import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from anke.access.catalogue import CUSTOMER_DATA_RESOURCES, SHIPPED_ROLES

# The classified fields when roles gained field policies (a field added later starts hidden).
FIELD_KEYS = [
    "activity.summary", "contactperson.email", "contactperson.name", "contactperson.notes",
    "contactperson.phone", "customer.birthday", "customer.credit_code", "customer.email",
    "customer.id_number", "customer.name", "customer.notes", "customer.phone",
    "customer.preferences", "customer.street", "ticket.description",
]


def scopes_per_resource(apps, schema_editor):
    """Each role's one customer scope becomes the scope of every resource; shipped roles get
    their shipped field policies, other roles keep what they had (clear and editable)."""
    Role = apps.get_model("access", "Role")
    for role in Role.objects.all():
        role.scopes = {resource: role.customer_scope for resource in CUSTOMER_DATA_RESOURCES}
        shipped = SHIPPED_ROLES.get(role.code)
        if shipped:
            role.permissions = sorted(set(role.permissions) | set(shipped.permissions))
            role.field_policies = shipped.field_policies(FIELD_KEYS)
        else:
            reach = "edit" if role.customer_scope != "none" else "masked"
            role.field_policies = dict.fromkeys(FIELD_KEYS, reach)
        role.save(update_fields=["scopes", "field_policies", "permissions"])


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0002_shipped_roles'),
        ('customers', '0004_encrypt_existing_values'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='role',
            name='field_policies',
            field=models.JSONField(default=dict, verbose_name='field policies'),
        ),
        migrations.AddField(
            model_name='role',
            name='scopes',
            field=models.JSONField(default=dict, verbose_name='record scopes'),
        ),
        migrations.RunPython(scopes_per_resource, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='role',
            name='customer_scope',
        ),
        migrations.CreateModel(
            name='Grant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('permissions', models.JSONField(default=list, verbose_name='permissions')),
                ('scope', models.CharField(blank=True, choices=[('none', 'no customer data'), ('own', 'own customers'), ('department', 'department and its sub-departments'), ('region', 'own region'), ('all', 'all customers')], help_text='Leave empty to grant only the listed customers.', max_length=20, verbose_name='scope')),
                ('field_access', models.CharField(choices=[('hidden', 'hidden'), ('masked', 'masked'), ('read', 'clear, read-only'), ('edit', 'clear, editable')], default='masked', max_length=10, verbose_name='field access')),
                ('reason', models.CharField(max_length=500, verbose_name='reason')),
                ('break_glass', models.BooleanField(default=False, verbose_name='break-glass')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('starts_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='starts')),
                ('expires_at', models.DateTimeField(db_index=True, verbose_name='expires')),
                ('revoked_at', models.DateTimeField(blank=True, null=True, verbose_name='revoked')),
                ('customers', models.ManyToManyField(blank=True, related_name='+', to='customers.customer', verbose_name='customers')),
                ('granted_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='granted by')),
                ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='revoked by')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='access_grants', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'temporary grant',
                'verbose_name_plural': 'temporary grants',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='ReviewCampaign',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('opened_at', models.DateTimeField(auto_now_add=True, verbose_name='opened')),
                ('due_at', models.DateTimeField(verbose_name='due')),
                ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed')),
                ('opened_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='opened by')),
            ],
            options={
                'verbose_name': 'access review',
                'verbose_name_plural': 'access reviews',
                'ordering': ['-opened_at'],
            },
        ),
        migrations.CreateModel(
            name='ReviewItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('decision', models.CharField(blank=True, choices=[('confirm', 'confirmed'), ('revoke', 'revoked')], max_length=10, verbose_name='decision')),
                ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='decided')),
                ('note', models.CharField(blank=True, max_length=500, verbose_name='note')),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='access.reviewcampaign', verbose_name='access review')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='decided by')),
                ('grant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='access.grant', verbose_name='temporary grant')),
                ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='review_items', to=settings.AUTH_USER_MODEL, verbose_name='reviewer')),
                ('role', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='access.role', verbose_name='role')),
                ('subject', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user reviewed')),
            ],
            options={
                'verbose_name': 'review item',
                'verbose_name_plural': 'review items',
                'ordering': ['campaign', 'subject', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='grant',
            index=models.Index(fields=['user', 'expires_at'], name='access_gran_user_id_76a7a8_idx'),
        ),
        migrations.AddConstraint(
            model_name='reviewitem',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('grant__isnull', True), ('role__isnull', False)), models.Q(('grant__isnull', False), ('role__isnull', True)), _connector='OR'), name='review_item_names_role_or_grant'),
        ),
    ]
