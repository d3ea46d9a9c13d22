"""Template context every page needs: the navigation the user's rights allow."""

from anke.access.policy import has_permission


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "can": {
            perm.replace(".", "_"): has_permission(user, perm)
            for perm in ("customer.view", "customer.create", "deal.view", "ticket.view",
                         "task.view", "order.view", "audit.view", "user.view", "user.manage",
                         "role.manage")
        }
    }
