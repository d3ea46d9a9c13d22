"""Domain errors raised by actions and guarded reads; the web and API edges translate them."""

from django.utils.translation import gettext_lazy as _


class NotVisible(Exception):
    """The object does not exist *or* the actor may not see it: callers answer 404 for both."""


class ActionDenied(Exception):
    """The actor sees the object but may not perform this action on it."""

    def __init__(self, message=None):
        super().__init__(message or _("You do not have permission to do this."))


class StepUpRequired(ActionDenied):
    """A sensitive action, and the person's last proof of who they are is too old: they confirm
    it (password and second factor) and the action goes on."""

    def __init__(self, message=None):
        super().__init__(message or _("Confirm it is you before doing this."))


class StaleVersion(Exception):
    """The edit started from an older version than the one stored."""

    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(
            _("Someone else changed this record while you were editing it. "
              "Reload it and apply your change again.")
        )


class RateLimited(ActionDenied):
    """The actor did this too often; they may again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int, message=None):
        self.retry_after = retry_after
        super().__init__(message or _("You have done this too often. Try again later."))
