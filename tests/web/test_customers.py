from django.urls import reverse
from django.utils import timezone

from anke.audit.models import AuditEvent
from anke.customers.models import Customer
from anke.sales.actions import create_deals, log_activities
from anke.sales.models import PipelineStage
from tests.helpers import read_back
from tests.personas import actor, customer_of


def test_list_shows_only_own_customers_and_audits_the_page(client_a, cast):
    mine = customer_of(cast.sales_a, name="甲客户")
    customer_of(cast.sales_b, name="乙客户")
    response = client_a.get(reverse("customers:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "甲客户" in body and "乙客户" not in body
    event = AuditEvent.objects.filter(action="customer.list").latest("id")
    assert event.object_ids == [str(mine.pk)]


def test_search_is_a_post_and_finds_by_name(client_a, cast):
    customer_of(cast.sales_a, name="欧阳锋")
    customer_of(cast.sales_a, name="黄药师")
    response = client_a.post(reverse("customers:list"), {"q": "欧阳"})
    body = response.content.decode()
    assert "欧阳锋" in body and "黄药师" not in body
    assert AuditEvent.objects.filter(action="customer.search").count() == 1


def test_keyset_pagination_walks_every_customer_once(client_a, cast, monkeypatch):
    monkeypatch.setattr("anke.customers.views.PAGE_SIZE", 2)
    for i in range(5):
        customer_of(cast.sales_a, name=f"客户{i}")
    seen, cursor = [], ""
    for _page in range(3):
        response = client_a.post(reverse("customers:list"), {"cursor": cursor})
        rows = response.context["customers"]
        seen += [c.name for c in rows]
        cursor = response.context["next_cursor"] or ""
    assert sorted(seen) == [f"客户{i}" for i in range(5)]
    assert cursor == ""


def test_detail_of_another_owner_is_404(client_a, cast):
    theirs = customer_of(cast.sales_b)
    response = client_a.get(reverse("customers:detail", args=[theirs.pk]))
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="customer.view", outcome="denied").exists()


def test_edit_shows_field_errors_and_saves_nothing(client_a, cast):
    customer = customer_of(cast.sales_a)
    url = reverse("customers:edit", args=[customer.pk])
    response = client_a.post(url, {"kind": "individual", "name": "张三", "stage": "lead",
                                   "source": "other", "phone": "12", "version": 1})
    assert response.status_code == 400
    assert 'data-field-error="phone"' in response.content.decode()
    assert read_back(Customer, customer.pk).phone == "+8613812345678"


def test_stale_edit_is_refused_with_a_message(client_a, cast):
    customer = customer_of(cast.sales_a)
    form = {"kind": "individual", "name": "张三丰", "stage": "lead", "source": "other",
            "phone": "13812345678", "version": 1}
    assert client_a.post(reverse("customers:edit", args=[customer.pk]), form).status_code == 302
    response = client_a.post(reverse("customers:edit", args=[customer.pk]),
                             {**form, "name": "张无忌"})
    assert response.status_code == 400
    assert "Someone else changed this record" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).name == "张三丰"


def test_create_then_detail(client_a):
    response = client_a.post(reverse("customers:create"), {
        "kind": "individual", "name": "令狐冲", "stage": "lead", "source": "website",
        "phone": "+86 139 0000 1111", "tags": "VIP，华山"})
    customer = Customer.objects.get(name="令狐冲")
    assert response.url == customer.get_absolute_url()
    page = client_a.get(customer.get_absolute_url()).content.decode()
    assert "139 0000 1111" in page and "华山" in page



def test_list_and_detail_cost_a_fixed_number_of_queries(client, cast,
                                                        django_assert_max_num_queries):
    customers = [customer_of(cast.sales_a, name=f"客户{i}") for i in range(60)]
    stage = PipelineStage.objects.first()
    a = actor(cast.sales_a)
    create_deals(a, [{"customer": customers[0], "title": f"单{i}", "stage": stage}
                     for i in range(10)])
    log_activities(a, [{"customer": customers[0], "summary": f"电话{i}", "kind": "call",
                        "occurred_at": timezone.now()} for i in range(10)])
    client.force_login(cast.sales_a)
    # Each read's audit event is indexed by customer in one more query; the user's temporary
    # grants are read once per request.
    with django_assert_max_num_queries(10):
        assert client.get(reverse("customers:list")).status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get(customers[0].get_absolute_url()).status_code == 200
