"""Form helpers shared by the web views of every app."""

from django import forms
from django.core.exceptions import ValidationError


def style_widgets(form, *, mark_errors: bool = False) -> None:
    """Give every widget of ``form`` Bootstrap's class; with ``mark_errors`` (a form about to
    be shown) also mark the invalid ones."""
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
            css = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            css = "form-select"
        else:
            css = "form-control"
        classes = widget.attrs.get("class", "").split()
        if mark_errors and form.is_bound and name in form.errors:
            classes.append("is-invalid")
            widget.attrs["aria-invalid"] = "true"
        widget.attrs["class"] = " ".join(dict.fromkeys([*classes, css]))


class BootstrapFormMixin:
    """Bootstrap's look for a form of Anke's own (others get it from ``style_widgets``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_widgets(self)

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] += " is-invalid"
                widget.attrs["aria-invalid"] = "true"

    def add_action_errors(self, error: ValidationError) -> None:
        """Show a domain action's validation error next to the fields it names."""
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


class VersionField(forms.IntegerField):
    """The version an edit started from, carried through the form for optimistic locking."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)
