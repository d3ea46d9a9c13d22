"""Filter options and dropdowns come from the scope: they name no one beyond it."""

from django.urls import reverse

from anke.access.policy import users_in_reach


def owner_options(client, user) -> set[str]:
    client.force_login(user)
    owners = client.get(reverse("customers:list")).context["filters"]["owners"]
    return {label for _pk, label in owners}


def test_the_owner_filter_offers_only_owners_in_reach(client, cast):
    assert owner_options(client, cast.sales_a) == {"sales_a"}
    assert owner_options(client, cast.sales_manager) == {"sales_a", "sales_manager"}
    everyone = owner_options(client, cast.manager)
    assert {"sales_a", "sales_b", "service", "admin"} <= everyone and "departed" not in everyone


def test_roles_without_customer_data_reach_no_owner(cast):
    assert list(users_in_reach(cast.auditor)) == []
    assert list(users_in_reach(cast.admin, "customer.view")) == []
    assert list(users_in_reach(cast.manager, "no.such_permission")) == []


def test_an_owner_outside_the_scope_cannot_be_forced_as_a_filter(client, cast):
    client.force_login(cast.sales_a)
    response = client.get(reverse("customers:list"), {"owner": cast.sales_b.pk})
    assert response.context["form"].errors["owner"]
    assert response.context["customers"] == [] or all(
        c.owner_id == cast.sales_a.pk for c in response.context["customers"])
