"""The demo company: users for every shipped role and realistic Chinese customers with their
deals, activities, tasks, orders and tickets, created through the real domain actions.

Deterministic for a given seed; the generated values pass the same validation as user input
(valid mobile numbers, resident ID numbers and credit codes with correct check digits).
"""

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric, uscc

from anke.accounts.actions import create_department, create_region, create_user
from anke.audit.catalogue import Event
from anke.audit.recorder import record
from anke.core.context import Actor
from anke.customers.actions import create_customers
from anke.customers.models import Customer
from anke.sales.actions import create_deals, create_orders, create_tasks, log_activities
from anke.sales.models import Activity, PipelineStage
from anke.service.actions import open_tickets
from anke.service.models import Ticket

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕鹏飞玉兰文斌宇"
    "浩然子涵欣怡梓萱思远博文雨桐一诺晨曦佳琪俊杰嘉怡"
)
# (province, city, district, resident-ID area code valid for births since 1985)
PLACES = [
    ("北京市", "北京市", "朝阳区", "110105"),
    ("上海市", "上海市", "徐汇区", "310104"),
    ("广东省", "广州市", "天河区", "440106"),
    ("浙江省", "杭州市", "西湖区", "330106"),
    ("江苏省", "南京市", "玄武区", "320102"),
]
STREETS = [
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "长江路",
    "滨江大道",
    "科技园路",
    "文化路",
    "新华街",
]
BRAND = [
    "华信",
    "鼎盛",
    "瑞丰",
    "恒通",
    "金桥",
    "天元",
    "宏达",
    "星河",
    "安泰",
    "嘉禾",
    "远景",
    "博雅",
    "启明",
    "翔宇",
    "万象",
    "汇智",
]
INDUSTRY = [
    "科技",
    "贸易",
    "物流",
    "食品",
    "医药",
    "建材",
    "电子",
    "文化传媒",
    "教育咨询",
    "环保",
    "机械",
    "服饰",
]
MOBILE_PREFIXES = [
    str(p)
    for p in (
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        158,
        159,
        180,
        186,
        187,
        188,
        189,
    )
]
MAIL_DOMAINS = ["qq.com", "163.com", "126.com", "example.cn", "sina.com"]
TAGS = ["VIP", "老客户", "潜在大客户", "价格敏感", "需回访", "渠道"]
PRODUCTS = [
    ("企业版订阅", Decimal("19800")),
    ("专业版订阅", Decimal("6800")),
    ("实施服务", Decimal("12000")),
    ("培训课程", Decimal("2800")),
    ("硬件终端", Decimal("1500")),
    ("年度维保", Decimal("5000")),
]
TICKET_SUBJECTS = {
    Ticket.Kind.COMPLAINT: ["发货延迟", "发票信息错误", "服务态度投诉", "产品质量问题"],
    Ticket.Kind.FEEDBACK: ["希望增加导出功能", "界面建议", "对实施团队的表扬"],
    Ticket.Kind.ENQUIRY: ["询问续费价格", "如何开通新账号", "咨询培训安排", "合同条款咨询"],
}
ACTIVITY_TEXT = [
    "电话沟通需求，客户对报价有兴趣",
    "上门拜访，演示产品功能",
    "发送方案和报价单",
    "线上会议讨论实施计划",
    "客户反馈预算下季度确定",
    "跟进合同审批进度",
]
DEAL_TITLES = ["年度采购", "系统升级", "新门店部署", "续约", "扩容", "试点项目"]

# username → (display name, role, department key, region code)
DEMO_USERS = {
    "manager": ("周总", "manager", "hq", None),
    "salesmgr": ("陈经理", "sales_manager", "sales", None),
    "zhangwei": ("张伟", "sales_rep", "east", "east"),
    "lina": ("李娜", "sales_rep", "north", "north"),
    "wangfang": ("王芳", "sales_rep", "south", "south"),
    "service": ("刘客服", "service_agent", "service", None),
    "admin": ("系统管理员", "administrator", "it", None),
    "auditor": ("审计员", "auditor", "hq", None),
    "privacy": ("隐私官", "privacy_officer", "hq", None),
}
OPERATOR = Actor.system()


@dataclass
class DemoResult:
    customers: int
    deals: int
    activities: int
    tasks: int
    orders: int
    tickets: int
    seconds: float


def logins_path() -> Path:
    return settings.VAR_DIR / "demo-logins.txt"


def read_logins() -> list[tuple[str, str, str]]:
    path = logins_path()
    if not path.exists():
        return []
    return [tuple(line.split("\t")) for line in path.read_text().splitlines() if line]


def ensure_demo_users() -> list[tuple[str, str, str]]:
    """Create the demo organisation and users once; return (username, role, password) rows.

    The password is random per installation, kept in ``var/demo-logins.txt`` (mode 0600).
    """
    User = get_user_model()
    if User.objects.filter(username__in=DEMO_USERS).exists():
        return read_logins()
    password = "demo-" + secrets.token_urlsafe(9)
    hq = create_department(OPERATOR, name="总部")
    sales = create_department(OPERATOR, name="销售部", parent=hq)
    departments = {
        "hq": hq,
        "sales": sales,
        "east": create_department(OPERATOR, name="华东销售组", parent=sales),
        "north": create_department(OPERATOR, name="华北销售组", parent=sales),
        "south": create_department(OPERATOR, name="华南销售组", parent=sales),
        "service": create_department(OPERATOR, name="客服部", parent=hq),
        "it": create_department(OPERATOR, name="信息技术部", parent=hq),
    }
    regions = {
        code: create_region(OPERATOR, code=code, name=name)
        for code, name in (("east", "华东"), ("north", "华北"), ("south", "华南"))
    }
    rows = []
    for username, (display, role, dept, region) in DEMO_USERS.items():
        create_user(
            OPERATOR,
            username=username,
            password=password,
            roles=[role],
            display_name=display,
            department=departments[dept],
            region=regions.get(region),
            check_password=False,
        )
        rows.append((username, role, password))
    _write_private(logins_path(), "".join("\t".join(row) + "\n" for row in rows))
    _enrol_demo_authenticator(User.objects.filter(username__in=DEMO_USERS))
    return rows


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)


# Every shipped role requires a second factor, so the demo users share one authenticator app
# key, random per installation and kept beside the logins (0600): add it to any authenticator
# app, or let `anke demo --code` show the current code.

def demo_totp_path() -> Path:
    return settings.VAR_DIR / "demo-totp.txt"


def _enrol_demo_authenticator(users) -> None:
    secret = generate_totp_secret()
    with transaction.atomic():
        for user in users:
            authenticator = TOTP.activate(user, secret).instance
            record(OPERATOR, Event.MFA_ADD, object_type="authenticator",
                   object_ids=[authenticator.pk], fields=["totp"])
    _write_private(demo_totp_path(), secret + "\n")


def demo_totp_secret() -> str | None:
    path = demo_totp_path()
    return path.read_text().strip() if path.exists() else None


def current_demo_code() -> str | None:
    secret = demo_totp_secret()
    if secret is None:
        return None
    return format_hotp_value(hotp_value(secret, int(timezone.now().timestamp()) // 30))


class Generator:
    """Realistic values from a seeded random source."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)

    def person_name(self) -> str:
        return self.random.choice(SURNAMES) + "".join(
            self.random.choice(GIVEN) for _ in range(self.random.choice((1, 2)))
        )

    def mobile(self) -> str:
        return self.random.choice(MOBILE_PREFIXES) + f"{self.random.randrange(10**8):08d}"

    def email(self) -> str:
        local = "".join(self.random.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(6))
        return f"{local}{self.random.randrange(1000)}@{self.random.choice(MAIL_DOMAINS)}"

    def id_number(self, area: str, birthday: date) -> str:
        body = f"{area}{birthday:%Y%m%d}{self.random.randrange(1000):03d}"
        return body + ric.calc_check_digit(body + "0")

    def credit_code(self, area: str) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        body = "91" + area + "".join(self.random.choice(alphabet) for _ in range(9))
        return body + uscc.calc_check_digit(body)

    def customer(self) -> dict:
        province, city, district, area = self.random.choice(PLACES)
        street = f"{self.random.choice(STREETS)}{self.random.randrange(1, 999)}号"
        stage = self.random.choices(list(Customer.Stage.values), weights=(30, 25, 30, 8, 7))[0]
        common = {
            "province": province,
            "city": city,
            "district": district,
            "street": street,
            "stage": stage,
            "source": self.random.choice(Customer.Source.values),
            "phone": self.mobile(),
            "tags": self.random.sample(TAGS, self.random.choice((0, 0, 1, 2))),
        }
        if self.random.random() < 0.7:
            # From 1985: every area code in PLACES was assigned by then.
            birthday = date(1985, 1, 1) + timedelta(days=self.random.randrange(7000))
            return {
                **common,
                "kind": Customer.Kind.INDIVIDUAL,
                "name": self.person_name(),
                "email": self.email(),
                "birthday": birthday,
                "id_number": self.id_number(area, birthday),
                "company": self.company_name(city) if self.random.random() < 0.5 else "",
            }
        return {
            **common,
            "kind": Customer.Kind.COMPANY,
            "name": self.company_name(city),
            "credit_code": self.credit_code(area),
            "email": self.email(),
            "website": f"https://www.{self.random.choice(BRAND).encode().hex()[:8]}.cn",
        }

    def company_name(self, city: str) -> str:
        return (
            f"{city.removesuffix('市')}{self.random.choice(BRAND)}"
            f"{self.random.choice(INDUSTRY)}有限公司"
        )

    def moment_in_last_year(self) -> datetime:
        day = timezone.localdate() - timedelta(days=self.random.randrange(365))
        return timezone.make_aware(
            datetime.combine(day, time(self.random.randrange(9, 19), self.random.randrange(60)))
        )

    def items(self) -> list[dict]:
        return [
            {"name": name, "quantity": self.random.randint(1, 5), "unit_price": str(price)}
            for name, price in self.random.sample(PRODUCTS, self.random.randint(1, 3))
        ]


def load_demo(customers: int, *, seed: int = 2026, batch: int = 2000) -> DemoResult:
    """Create ``customers`` customers spread over the sales reps, with their records."""
    started = timezone.now()
    ensure_demo_users()
    User = get_user_model()
    reps = list(
        User.objects.filter(roles__code="sales_rep", username__in=DEMO_USERS).select_related(
            "department"
        )
    )
    service = User.objects.get(username="service")
    stages = list(PipelineStage.objects.all())
    gen = Generator(seed + Customer.objects.count())
    totals = dict.fromkeys(("customers", "deals", "activities", "tasks", "orders", "tickets"), 0)
    for start in range(0, customers, batch):
        size = min(batch, customers - start)
        for rep in reps:
            rows = [
                gen.customer()
                for _ in range(size // len(reps) + (rep is reps[0]) * (size % len(reps)))
            ]
            if not rows:
                continue
            created = create_customers(Actor.system(rep, method="demo"), rows)
            totals["customers"] += len(created)
            _load_records(gen, Actor.system(rep, method="demo"), created, stages, service, totals)
    seconds = (timezone.now() - started).total_seconds()
    return DemoResult(seconds=seconds, **totals)


def _load_records(gen: Generator, actor: Actor, customers, stages, service, totals) -> None:
    r = gen.random
    deals = create_deals(
        actor,
        [
            {
                "customer": c,
                "title": f"{c.name}{r.choice(DEAL_TITLES)}",
                "stage": r.choice(stages),
                "amount": Decimal(r.randrange(5, 500) * 1000),
                "currency": "CNY",
                "expected_close": timezone.localdate() + timedelta(days=r.randrange(-30, 120)),
            }
            for c in customers
            if r.random() < 0.6
        ],
    )
    activities = log_activities(
        actor,
        [
            {
                "customer": c,
                "kind": r.choice(Activity.Kind.values),
                "occurred_at": gen.moment_in_last_year(),
                "summary": r.choice(ACTIVITY_TEXT),
            }
            for c in customers
            for _ in range(r.choice((0, 1, 2, 3)))
        ],
    )
    tasks = create_tasks(
        actor,
        [
            {
                "customer": c,
                "title": r.choice(["回访客户", "发送报价", "确认合同", "安排演示"]),
                "due_at": timezone.now() + timedelta(days=r.randrange(-5, 30)),
            }
            for c in customers
            if r.random() < 0.2
        ],
    )
    orders = create_orders(
        actor,
        [
            {
                "customer": c,
                "items": gen.items(),
                "status": r.choice(["confirmed", "paid", "paid", "shipped", "cancelled"]),
                "ordered_on": gen.moment_in_last_year().date(),
            }
            for c in customers
            if c.stage in ("customer", "vip", "churned") or r.random() < 0.1
        ],
    )
    tickets = open_tickets(
        actor,
        [
            {
                "customer": c,
                "kind": (kind := r.choice(Ticket.Kind.values)),
                "subject": r.choice(TICKET_SUBJECTS[kind]),
                "description": "",
                "priority": r.choice(Ticket.Priority.values),
                "assignee": service,
                "status": r.choice(Ticket.Status.values),
                "satisfaction": r.choice([None, 3, 4, 5]),
            }
            for c in customers
            if r.random() < 0.3
        ],
    )
    totals["deals"] += len(deals)
    totals["activities"] += len(activities)
    totals["tasks"] += len(tasks)
    totals["orders"] += len(orders)
    totals["tickets"] += len(tickets)
