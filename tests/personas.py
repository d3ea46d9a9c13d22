"""The fixed cast every test uses (SECURITY.md §5): two sales reps in sibling teams, their
manager, a service agent, a manager, an auditor, an administrator and a deactivated rep."""

import time
from dataclasses import dataclass

from anke.accounts.actions import (
    create_department,
    create_region,
    create_user,
    deactivate_user,
)
from anke.core.context import Actor
from anke.customers.actions import create_customer

OPERATOR = Actor.system()
PASSWORD = "correct horse battery staple"


@dataclass
class Cast:
    sales_a: object
    sales_b: object
    sales_manager: object
    service: object
    manager: object
    auditor: object
    admin: object
    departed: object
    east: object
    north: object


def build_cast() -> Cast:
    hq = create_department(OPERATOR, name="总部")
    sales = create_department(OPERATOR, name="销售部", parent=hq)
    east = create_department(OPERATOR, name="华东组", parent=sales)
    north = create_department(OPERATOR, name="华北组", parent=sales)
    east_region = create_region(OPERATOR, code="east", name="华东")
    north_region = create_region(OPERATOR, code="north", name="华北")

    def user(username, role, department=None, region=None, **extra):
        return create_user(OPERATOR, username=username, password=PASSWORD, roles=[role],
                           department=department, region=region, **extra)

    sales_manager = user("sales_manager", "sales_manager", east, east_region)
    cast = Cast(
        sales_a=user("sales_a", "sales_rep", east, east_region, manager=sales_manager),
        sales_b=user("sales_b", "sales_rep", north, north_region),
        sales_manager=sales_manager,
        service=user("service", "service_agent", hq),
        manager=user("manager", "manager", hq),
        auditor=user("auditor", "auditor", hq),
        admin=user("admin", "administrator", hq),
        departed=user("departed", "sales_rep", east, east_region),
        east=east,
        north=north,
    )
    # The departed rep left through the real off-boarding road, handing over to sales_a.
    deactivate_user(OPERATOR, cast.departed.pk, successor_id=cast.sales_a.pk)
    cast.departed.refresh_from_db(fields=["is_active"])
    return cast


def actor(user) -> Actor:
    """``user`` at work, having just confirmed who they are (step-up passes)."""
    return Actor(user=user, ip="127.0.0.1", auth_method="test", confirmed_at=time.time())


def customer_of(user, **fields):
    """A customer owned by ``user``, created through the real action as that user."""
    data = {"name": "张三", "phone": "13812345678", **fields}
    return create_customer(actor(user), data=data)
