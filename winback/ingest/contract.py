"""The input contract (``shared/spec/input-contract.md``) as data: tables, columns, types,
allowed values, keys and references. Ingestion validates every row against it.

Only ``orders`` is required; an absent optional table loads as an empty typed table so
that downstream features from it are null or zero (the contract's promise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "timestamp", "decimal", "integer", "boolean"]

SQL_TYPES: dict[Kind, str] = {
    "string": "varchar",
    "timestamp": "timestamp",  # UTC, naive
    "decimal": "decimal(18, 2)",
    "integer": "bigint",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class Column:
    """One contract column."""

    name: str
    kind: Kind = "string"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    # Event times may not lie after the run's as-of time; deadlines and due dates may.
    not_after_as_of: bool = False


@dataclass(frozen=True)
class Reference:
    """``column`` must name an existing ``table.key`` when that table is present."""

    column: str
    table: str


@dataclass(frozen=True)
class Table:
    """One contract table."""

    name: str
    columns: tuple[Column, ...]
    key: str | None = None
    references: tuple[Reference, ...] = field(default_factory=tuple)
    required: bool = False

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "closed", "refunded")
EVENT_TYPES = (
    "site_visit",
    "cart_add",
    "wishlist_add",
    "inquiry",
    "email_sent",
    "email_open",
    "email_click",
    "sms_sent",
    "call_answered",
    "call_unanswered",
    "referral",
    "review",
    "forum_post",
    "forum_answer",
    "survey_response",
    "suggestion",
    "campaign_join",
    "nps",
)
TICKET_KINDS = ("product", "logistics", "attitude", "price", "other")
CHANNELS = ("email", "sms", "phone", "push", "chat", "ads", "visit", "none")


def _ts(name: str, *, required: bool = False, event_time: bool = True) -> Column:
    return Column(name, "timestamp", required=required, not_after_as_of=event_time)


def _bool(name: str) -> Column:
    return Column(name, "boolean")


def _money(name: str, *, required: bool = False) -> Column:
    return Column(name, "decimal", required=required, min_value=0)


CUSTOMERS = Table(
    "customers",
    (
        Column("customer_id", required=True),
        _ts("signup_ts"),
        Column("birth_year", "integer", min_value=1900, max_value=2030),
        Column("gender"),
        Column("region"),
        Column("city_tier"),
        Column("occupation"),
        Column("household"),
        Column("acquisition_channel"),
        Column("member_tier"),
        _bool("consent_email"),
        _bool("consent_sms"),
        _bool("consent_phone"),
        _bool("consent_push"),
        Column("preferred_channel", allowed=CHANNELS),
        Column("preferred_contact_hour", "integer", min_value=0, max_value=23),
        _bool("do_not_contact"),
        Column("segment", allowed=("b2c", "b2b")),
        Column("timezone"),  # Winback addition: IANA name, for reminder timing (R18)
        # Winback additions: how a sender reaches the customer (winback export; setting
        # export.contact_columns names these and any other extra column per channel).
        Column("email"),
        Column("phone"),
    ),
    key="customer_id",
)

PRODUCTS = Table(
    "products",
    (
        Column("product_id", required=True),
        Column("category"),
        _bool("is_essential"),
        Column("style_tag"),
        _money("unit_cost"),
    ),
    key="product_id",
)

ORDERS = Table(
    "orders",
    (
        Column("order_id", required=True),
        Column("customer_id", required=True),
        _ts("order_ts", required=True),
        _money("amount", required=True),
        Column("status", allowed=ORDER_STATUSES),
        _ts("paid_ts"),
        Column("source", allowed=("own", "distribution")),
        _bool("flash_sale"),
        _ts("pay_deadline_ts", event_time=False),
        _money("discount_amount"),
        _money("shipping_fee"),
    ),
    key="order_id",
    references=(Reference("customer_id", "customers"),),
    required=True,
)

ORDER_ITEMS = Table(
    "order_items",
    (
        Column("order_id", required=True),
        Column("product_id", required=True),
        Column("quantity", "integer", min_value=0),
        _money("unit_price"),
    ),
    references=(Reference("order_id", "orders"), Reference("product_id", "products")),
)

EVENTS = Table(
    "events",
    (
        Column("event_id", required=True),
        Column("customer_id", required=True),
        _ts("event_ts", required=True),
        Column("event_type", required=True, allowed=EVENT_TYPES),
        Column("ref_id"),
        Column("value", "decimal"),
    ),
    key="event_id",
    references=(Reference("customer_id", "customers"),),
)

TICKETS = Table(
    "tickets",
    (
        Column("ticket_id", required=True),
        Column("customer_id", required=True),
        Column("order_id"),
        _ts("opened_ts", required=True),
        _ts("closed_ts"),
        Column("kind", allowed=TICKET_KINDS),
        _bool("resolved"),
        Column("satisfaction", "integer", min_value=1, max_value=5),
    ),
    key="ticket_id",
    references=(Reference("customer_id", "customers"), Reference("order_id", "orders")),
)

PAYMENTS = Table(
    "payments",
    (
        Column("invoice_id", required=True),
        Column("customer_id", required=True),
        Column("order_id"),
        _ts("due_ts", required=True, event_time=False),
        _ts("paid_ts"),
        _money("amount"),
    ),
    key="invoice_id",
    references=(Reference("customer_id", "customers"), Reference("order_id", "orders")),
)

CAMPAIGN_CONTACTS = Table(
    "campaign_contacts",
    (
        Column("contact_id", required=True),
        Column("customer_id", required=True),
        Column("campaign_id", required=True),
        _ts("contact_ts", required=True),
        Column("channel", allowed=CHANNELS),
        Column("offer_code"),
        Column("group", allowed=("treatment", "control")),
        Column("step", "integer", min_value=1, max_value=3),
        Column("converted_order_id"),
    ),
    key="contact_id",
    references=(
        Reference("customer_id", "customers"),
        Reference("converted_order_id", "orders"),
    ),
)

CONTACT_STATUSES = ("sent", "failed", "bounced", "opted_out", "unsubscribed")

# Issue 17: what the merchant's sender returns about the contacts Winback exported (whole
# log, like every contract file). contact_key is the export's (wb-… or rm-…); customer_id
# is optional (the key names the customer, or the order of a reminder).
CONTACT_LOG = Table(
    "contact_log",
    (
        Column("contact_key", required=True),
        Column("channel", allowed=CHANNELS),
        Column("status", required=True, allowed=CONTACT_STATUSES),
        _ts("status_ts", required=True),
        Column("customer_id"),
    ),
    references=(Reference("customer_id", "customers"),),
)

# Load order: a table comes after every table it references. SHOP_TABLES are what the
# merchant's shop system exports (and the demo shop writes); the contact log is what the
# merchant's sender returns about Winback's own exports.
SHOP_TABLES: tuple[Table, ...] = (
    CUSTOMERS,
    PRODUCTS,
    ORDERS,
    ORDER_ITEMS,
    EVENTS,
    TICKETS,
    PAYMENTS,
    CAMPAIGN_CONTACTS,
)
TABLES: tuple[Table, ...] = (*SHOP_TABLES, CONTACT_LOG)
TABLES_BY_NAME = {t.name: t for t in TABLES}
