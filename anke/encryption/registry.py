"""Whose data key a row uses: its subject, the customer the personal data belongs to."""


def subject_id_of(obj):
    """The row itself for a customer; its ``customer`` for contact persons and the like."""
    return obj.customer_id if hasattr(obj, "customer_id") else obj.pk


def subject_field(model) -> str:
    """The column naming a row's subject: ``customer_id``, or the primary key itself."""
    return "customer_id" if any(f.attname == "customer_id"
                                for f in model._meta.concrete_fields) else "pk"


def subject_lookup(model) -> str:
    """The queryset lookup that selects a model's rows by subject id."""
    return f"{subject_field(model)}__in"
