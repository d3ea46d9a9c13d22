"""Form support for encrypted fields."""

from django.utils.translation import gettext_lazy as _

from anke.encryption.fields import Unreadable


class UnreadableValuesMixin:
    """A value that could not be decrypted is never put in an input (its notice would be saved
    back as data): the input starts empty and says what happened. Left empty, the stored value
    is kept (it may be readable again once a key is restored), and the model asks for it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unreadable = []
        for name, value in list(self.initial.items()):
            if isinstance(value, Unreadable) and name in self.fields:
                self.unreadable.append(name)
                self.initial[name] = ""
                self.fields[name].help_text = _(
                    "%(problem)s Whatever you enter here replaces the stored value.") % {
                    "problem": value}

    def clean(self):
        cleaned = super().clean()
        for name in self.unreadable:
            if cleaned.get(name) in ("", None):
                cleaned.pop(name, None)
        return cleaned
