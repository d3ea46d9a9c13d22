"""Forms of the grant, break-glass and access-review pages. They shape input and offer only
what the user could be given; the rules themselves live in ``grants`` and ``reviews``."""

import re
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from anke.access.catalogue import PERMISSIONS, FieldAccess, Scope
from anke.access.grants import (
    BREAK_GLASS_MIN_REASON,
    MAX_BREAK_GLASS_CUSTOMERS,
    MAX_LISTED_CUSTOMERS,
    MAX_REASON,
    field_access_ceiling,
    grantable_permissions,
    grantable_scopes,
    parse_customer_ids,
)
from anke.access.models import ReviewItem
from anke.access.reviews import MAX_NOTE
from anke.core.forms import BootstrapFormMixin, DateTimeInput

MY_CUSTOMERS_SHOWN = 200


def _split_ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


class CustomerIdsField(forms.CharField):
    """Customer ids pasted one per line (commas and spaces also separate them)."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def __init__(self, *, limit: int, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            ids = parse_customer_ids(_split_ids(value))
        except ValidationError:
            raise ValidationError(_("Give customer ids (UUIDs), one per line.")) from None
        if len(ids) > self.limit:
            raise ValidationError(_("List at most %(count)d customers.") % {"count": self.limit})
        return ids


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.username})" if obj.display_name else obj.username


class CheckboxesMixin:
    """Bootstrap's classes for checkbox lists (the shared mixin styles them as one control)."""

    def _style_checkboxes(self, *names):
        for name in names:
            self.fields[name].widget.attrs["class"] = "form-check-input"


class GrantForm(CheckboxesMixin, BootstrapFormMixin, forms.Form):
    """A new temporary grant, offering only what the grantor's own roles could hand on."""

    user = UserChoiceField(get_user_model().objects.none(), label=_("User"))
    permissions = forms.MultipleChoiceField(label=_("Permissions"),
                                            widget=forms.CheckboxSelectMultiple)
    customer_ids = CustomerIdsField(label=_("Customer ids"), required=False,
                                    limit=MAX_LISTED_CUSTOMERS,
                                    help_text=_("One customer id per line (from the customer's "
                                                "page address)."))
    my_customers = forms.MultipleChoiceField(
        label=_("Or choose from your customers"), required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Your %(count)d most recently changed customers.")
        % {"count": MY_CUSTOMERS_SHOWN})
    scope = forms.ChoiceField(label=_("Record scope"), required=False, help_text=_(
        "Instead of listing customers: every customer this scope reaches for the user (their "
        "own customers, department or region)."))
    field_access = forms.ChoiceField(label=_("Classified fields"))
    reason = forms.CharField(label=_("Reason"), max_length=MAX_REASON,
                             widget=forms.Textarea(attrs={"rows": 2}))
    expires_at = forms.DateTimeField(label=_("Expires"), widget=DateTimeInput())

    def __init__(self, *args, grantor, my_customers=(), **kwargs):
        kwargs.setdefault("initial", {"expires_at": timezone.localtime() + timedelta(days=7),
                                      "field_access": FieldAccess.MASKED})
        super().__init__(*args, **kwargs)
        self.grantor = grantor
        self.fields["user"].queryset = (get_user_model().objects.filter(is_active=True)
                                        .exclude(pk=grantor.pk).order_by("username"))
        grantable = grantable_permissions(grantor)
        self.fields["permissions"].choices = [(p, f"{PERMISSIONS[p]} ({p})") for p in grantable]
        self.fields["my_customers"].choices = [(str(c.pk), c.name) for c in my_customers]
        offered = {scope for p in grantable for scope in grantable_scopes(grantor, [p])}
        self.fields["scope"].choices = [("", _("Only the listed customers"))] + [
            (scope.value, scope.label) for scope in Scope if scope in offered]
        ceiling = max((field_access_ceiling(grantor, [p]) for p in grantable),
                      key=lambda level: level.rank, default=FieldAccess.HIDDEN)
        self.fields["field_access"].choices = [
            (level.value, level.label) for level in FieldAccess if level.rank <= ceiling.rank]
        self._style_checkboxes("permissions")

    def clean(self):
        data = super().clean()
        ids = list(data.get("customer_ids") or [])
        for raw in data.get("my_customers") or []:
            ids += parse_customer_ids([raw])
        data["customer_ids"] = list(dict.fromkeys(ids))
        permissions = data.get("permissions") or []
        level = data.get("field_access")
        # Listed customers are judged by the action (each by the roles that reach it, and one
        # out of reach is a 404 there, not a field error here).
        if permissions and level and not data["customer_ids"] and (
                FieldAccess(level).rank > field_access_ceiling(
                    self.grantor, permissions, scope=data.get("scope") or "").rank):
            self.add_error("field_access", _("You cannot grant field access stronger than "
                                             "your own."))
        if data.get("scope") and permissions:
            offered = grantable_scopes(self.grantor, permissions)
            if Scope(data["scope"]) not in offered:
                self.add_error("scope", _("Your roles do not reach this scope for these "
                                          "permissions."))
        return data


class BreakGlassForm(BootstrapFormMixin, forms.Form):
    customer_ids = CustomerIdsField(label=_("Customer ids"), limit=MAX_BREAK_GLASS_CUSTOMERS,
                                    help_text=_("One customer id per line."))
    reason = forms.CharField(label=_("Reason"), min_length=BREAK_GLASS_MIN_REASON,
                             max_length=MAX_REASON, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("What the emergency is. The security team reads it."))
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, initial=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = settings.ANKE_BREAK_GLASS_MAX_MINUTES
        self.fields["minutes"].validators.append(MaxValueValidator(limit))
        self.fields["minutes"].widget.attrs["max"] = limit
        self.fields["minutes"].help_text = _("At most %(count)d.") % {"count": limit}


class RevokeForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=MAX_REASON)


class ReviewForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    due_at = forms.DateTimeField(label=_("Due"), widget=DateTimeInput())

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"due_at": timezone.localtime() + timedelta(days=14)})
        super().__init__(*args, **kwargs)


class DecideForm(forms.Form):
    """One item's decision, posted from the row that shows it."""

    decision = forms.ChoiceField(choices=ReviewItem.Decision.choices)
    note = forms.CharField(max_length=MAX_NOTE, required=False)
    back = forms.ChoiceField(choices=[("mine", "mine"), ("campaign", "campaign")],
                             required=False)
