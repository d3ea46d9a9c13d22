from django.db import migrations

from anke.access.catalogue import SHIPPED_ROLES


def create_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, (label, permissions, scope) in SHIPPED_ROLES.items():
        Role.objects.update_or_create(
            code=code,
            defaults={"name": str(label), "permissions": permissions, "customer_scope": scope},
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
