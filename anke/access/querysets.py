"""Access-aware querysets: the only way lists of customer data are built."""

from django.db import models

from anke.access.policy import scope_q


class ScopedQuerySet(models.QuerySet):
    """``Model.objects.visible_to(user, "view")`` applies the access policy to any query.

    Subclasses name their ``resource`` (the permission prefix) and ``customer_path`` (how to reach
    the customer whose scope they inherit).
    """

    resource = ""
    customer_path = ""

    def visible_to(self, user, action: str = "view"):
        q = scope_q(user, f"{self.resource}.{action}", self.customer_path)
        return self.none() if q is None else self.filter(q)
