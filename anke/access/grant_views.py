"""Web pages for temporary grants, break-glass and access reviews."""

import functools

from anke.access.policy import has_permission
from anke.access.reviews import items_awaiting

ACCESS_PERMISSIONS = ("grant.approve", "grant.break_glass", "user.manage")


def access_navigation(request):
    """The "Access" menu entry, and the count of review items waiting for this user (counted
    only when a page shows it)."""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {"access_nav": {
        "show": any(has_permission(user, p) for p in ACCESS_PERMISSIONS),
        "reviews": functools.cache(lambda: items_awaiting(user).count()),
    }}
