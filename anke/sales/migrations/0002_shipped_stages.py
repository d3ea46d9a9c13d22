from django.db import migrations

STAGES = [
    # code, name, position, probability, won, lost
    ("qualify", "Qualify", 10, 10, False, False),
    ("needs", "Needs analysis", 20, 25, False, False),
    ("proposal", "Proposal", 30, 50, False, False),
    ("negotiation", "Negotiation", 40, 75, False, False),
    ("won", "Won", 90, 100, True, False),
    ("lost", "Lost", 99, 0, False, True),
]


def create_stages(apps, schema_editor):
    PipelineStage = apps.get_model("sales", "PipelineStage")
    for code, name, position, probability, won, lost in STAGES:
        PipelineStage.objects.update_or_create(code=code, defaults={
            "name": name, "position": position, "probability": probability,
            "is_won": won, "is_lost": lost,
        })


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]
    operations = [migrations.RunPython(create_stages, migrations.RunPython.noop)]
