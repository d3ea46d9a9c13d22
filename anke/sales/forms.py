"""Web forms for deals, activities, tasks and orders (validation mirrors the model)."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from anke.access.masking import FieldPolicyFormMixin
from anke.core.forms import BootstrapFormMixin, DateInput, DateTimeInput, VersionField
from anke.encryption.forms import UnreadableValuesMixin
from anke.sales.actions import ACTIVITY_FIELDS, DEAL_FIELDS, TASK_FIELDS
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task

ORDER_ITEM_ROWS = 5
CENT = Decimal("0.01")


class VersionedModelForm(BootstrapFormMixin, forms.ModelForm):
    """A model form that carries the version an edit started from."""

    version = VersionField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["version"] = self.instance.version


def customer_deals(user, customer):
    """The deals of ``customer`` the user may see: the only ones an activity or order may name."""
    return Deal.objects.visible_to(user, "view").filter(customer=customer).order_by("title")


class DealForm(VersionedModelForm):
    class Meta:
        model = Deal
        fields = DEAL_FIELDS
        widgets = {"expected_close": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].empty_label = None
        self.fields["amount"].widget.attrs["min"] = "0"


class ActivityForm(FieldPolicyFormMixin, UnreadableValuesMixin, VersionedModelForm):
    class Meta:
        model = Activity
        fields = ACTIVITY_FIELDS
        widgets = {"occurred_at": DateTimeInput(), "summary": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, user, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deal"].queryset = customer_deals(user, customer)
        self.fields["deal"].empty_label = _("No deal")


class TaskForm(VersionedModelForm):
    class Meta:
        model = Task
        fields = TASK_FIELDS
        widgets = {"due_at": DateTimeInput()}


class DealMoveForm(forms.Form):
    """The stage picker on a pipeline card."""

    stage = forms.ModelChoiceField(queryset=PipelineStage.objects.all())
    version = VersionField()


class VersionOnlyForm(forms.Form):
    """A one-button state change (mark a task done) names the version it was shown with."""

    version = VersionField()


class BoardFilterForm(forms.Form):
    mine = forms.BooleanField(label=_("Mine only"), required=False)


class TaskFilterForm(BootstrapFormMixin, forms.Form):
    SHOW_MINE = "mine"
    SHOW_ALL = "all"

    show = forms.ChoiceField(label=_("Show"), required=False, choices=[
        (SHOW_MINE, _("My open tasks")), (SHOW_ALL, _("All open tasks I can see"))])
    include_done = forms.BooleanField(label=_("Include done tasks"), required=False)


class OrderFilterForm(BootstrapFormMixin, forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All statuses")), *Order.Status.choices])
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def apply(self, queryset):
        if self.cleaned_data.get("status"):
            queryset = queryset.filter(status=self.cleaned_data["status"])
        return queryset


class OrderForm(BootstrapFormMixin, forms.Form):
    """The order itself; its line items come from :func:`order_item_formset`.

    A plain form rather than a model form: the model computes the total from the items during
    validation, which a form without the items cannot do.
    """

    number = Order._meta.get_field("number").formfield(
        required=False, help_text=_("Leave empty to number the order automatically."))
    currency = Order._meta.get_field("currency").formfield()
    status = Order._meta.get_field("status").formfield()
    ordered_on = Order._meta.get_field("ordered_on").formfield(widget=DateInput(),
                                                                initial=timezone.localdate)
    deal = Order._meta.get_field("deal").formfield(queryset=Deal.objects.none(),
                                                   empty_label=_("No deal"))
    version = VersionField(required=False)

    def __init__(self, *args, user, customer, instance=None, **kwargs):
        if instance is not None:
            kwargs["initial"] = {
                "number": instance.number, "currency": instance.currency,
                "status": instance.status, "ordered_on": instance.ordered_on,
                "deal": instance.deal_id, "version": instance.version,
                **(kwargs.get("initial") or {}),
            }
        super().__init__(*args, **kwargs)
        self.fields["deal"].queryset = customer_deals(user, customer)
        if instance is not None:
            self.fields["number"].required = True
            self.fields["number"].help_text = ""


class OrderItemForm(BootstrapFormMixin, forms.Form):
    """One line of an order; a row left entirely empty is no item."""

    name = forms.CharField(label=_("Item"), max_length=200, required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=1_000_000,
                                  required=False)
    unit_price = forms.DecimalField(label=_("Unit price"), min_value=0, max_digits=14,
                                    decimal_places=2, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # the rows share one header instead of labels
            field.widget.attrs["aria-label"] = field.label

    def clean(self):
        data = super().clean()
        given = [name for name in self.fields if data.get(name) not in (None, "")]
        if given and not self.errors:
            for name in self.fields:
                if name not in given:
                    self.add_error(name, self.fields[name].error_messages["required"])
        return data

    @property
    def is_empty(self) -> bool:
        return not any(self.cleaned_data.get(name) not in (None, "") for name in self.fields)


class BaseOrderItemFormSet(forms.BaseFormSet):
    """Rows of :class:`OrderItemForm`; every field of a row is optional so that clearing a row
    (also one showing a current item) removes that item."""

    def clean(self):
        if any(self.errors):
            return
        if not self.items():
            raise ValidationError(_("An order needs at least one item."))

    def items(self) -> list[dict]:
        """The rows as the action takes them: ``[{"name", "quantity", "unit_price"}]``."""
        return [
            {"name": form.cleaned_data["name"].strip(), "quantity": form.cleaned_data["quantity"],
             "unit_price": str(form.cleaned_data["unit_price"].quantize(CENT))}
            for form in self.forms
            if form.cleaned_data and not form.is_empty
        ]


def order_item_formset(data=None, *, items=()):
    """Rows for up to ``ORDER_ITEM_ROWS`` items, or one per existing item if an order (say, an
    imported one) has more, so that editing it never drops items."""
    items = list(items)
    rows = max(ORDER_ITEM_ROWS, len(items))
    formset_class = forms.formset_factory(
        OrderItemForm, formset=BaseOrderItemFormSet, extra=rows - len(items), max_num=rows,
        absolute_max=rows, validate_max=True)
    initial = [{"name": item.get("name", ""), "quantity": item.get("quantity"),
                "unit_price": item.get("unit_price")} for item in items]
    return formset_class(data, initial=initial or None, prefix="items")
