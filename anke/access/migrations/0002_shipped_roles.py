from django.db import migrations

from anke.access.catalogue import SHIPPED_ROLES


def create_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, role in SHIPPED_ROLES.items():
        Role.objects.update_or_create(
            code=code,
            defaults={"name": str(role.label), "permissions": role.permissions,
                      "customer_scope": str(role.scope)},
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
