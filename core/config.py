"""The deployment, as one typed model loaded from ``config.yaml``.

Structure comes from the YAML file; secrets (puppet tokens, database passwords)
may be written as ``${ENV_VAR}`` and are read from the environment. Every field
has a default that makes ``make run`` work on a machine with nothing set up.
A wrong value raises :class:`ConfigError` naming the key, the value and what is
allowed; nothing is written before the configuration is valid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_FILE = Path("config.yaml")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _parse_duration(value: Any) -> Any:
    """Accept ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` as well as ISO 8601."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 90s, 15m, 2h or 7d")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_positive)]


def _valid_cron(value: str) -> str:
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(
            f"not a crontab expression (minute hour day month weekday): {exc}"
        ) from None
    return value


Cron = Annotated[str, AfterValidator(_valid_cron)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TownSettings(_Section):
    name: str = Field(default="国欢镇", min_length=1)
    """The town's name (镇); the root of the org tree."""
    roster: str = "builtin:guohuan"
    """Where the org tree comes from on ``gridcast setup``: ``builtin:guohuan`` (the
    article's town, generated deterministically) or a CSV/XLSX roster file."""
    timezone: str = "Asia/Shanghai"
    """Local time zone: ticket codes, reports and cadences use local dates."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as Asia/Shanghai") from None
        return value


class DatabaseSettings(_Section):
    url: SecretStr | None = None
    """SQLAlchemy URL. Default: SQLite file ``gridcast.db`` in the data directory.
    Production: ``postgresql://user:${PGPASSWORD}@host/db``. A secret: shown masked."""
    echo: bool = False
    """Log every SQL statement (debugging)."""

    @model_validator(mode="after")
    def _check_url(self) -> DatabaseSettings:
        url = self.url.get_secret_value() if self.url is not None else None
        if url is not None and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise ValueError("url: must start with sqlite:// or postgresql://")
        return self


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    """0 picks a free port (tests)."""
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/?$")
    """The address people open (``https://gridcast.example.gov.cn``). State-changing
    requests whose ``Origin`` or ``Host`` name another site are refused. Default: the
    bind address and port (and ``localhost`` for a loopback bind)."""
    session_max_age: Duration = timedelta(hours=12)
    """How long a sign-in lasts (the session cookie's expiry)."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    """Largest request body accepted (roster uploads included); larger gets 413."""
    max_json_depth: int = Field(default=32, ge=2, le=256)
    """Deepest nesting of a JSON body; deeper gets 400."""


class BotAccountSettings(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Stable identifier of the account inside gridcast."""
    name: str = ""
    """Display name of the WeChat account."""
    endpoint: str | None = Field(default=None, pattern=r"^[^\s:]+:\d{1,5}$")
    """Puppet service ``host:port``. Empty: served by the embedded sandbox."""
    token: SecretStr = SecretStr("")
    """Puppet service token; write ``${ENV_VAR}`` to keep it out of the file. Shown masked."""
    rate_per_s: float = Field(default=1.0, gt=0, le=50)
    """Sustained send rate this account must never exceed (messages per second)."""
    burst: int = Field(default=5, ge=1, le=100)
    """Messages the account may send at once after a quiet spell (token bucket size)."""
    tls: bool = False
    """Connect to the puppet service over TLS (when it offers it). Plaintext gRPC carries
    the token and every message in the clear: keep it on a private network."""
    tls_ca_file: Path | None = None
    """CA certificate (PEM) that signed the puppet service's certificate; default: the
    system's trusted CAs."""
    tls_server_name: str | None = None
    """The name in the service's certificate, when it is not the endpoint's host."""


class BotsSettings(_Section):
    accounts: list[BotAccountSettings] = Field(default_factory=list)
    """Explicit accounts. When empty, ``sandbox_accounts`` accounts are generated."""
    sandbox_accounts: int = Field(default=32, ge=1, le=1000)
    """How many accounts the generated (sandbox) deployment has."""
    rate_per_s: float = Field(default=1.0, gt=0, le=50)
    """Send rate of each generated account."""
    burst: int = Field(default=5, ge=1, le=100)
    """Burst of each generated account."""
    accounts_per_room: int = Field(default=4, ge=1, le=10)
    """In the generated deployment, every room has this many bot accounts, spread by the
    membership design (``gridcast plan accounts`` advises it: with a loss budget of 10% of
    32 accounts, 4 keep every room reachable whichever 3 accounts are lost)."""
    room_mapping: dict[str, str] = Field(default_factory=dict)
    """Rooms whose topic does not follow the naming convention: room id or topic ->
    org path below the town (``黄霞村/第16网格``)."""

    def room_mapping_paths(self) -> dict[str, tuple[str, ...]]:
        return {
            ref: tuple(p for p in path.split("/") if p) for ref, path in self.room_mapping.items()
        }

    @model_validator(mode="after")
    def _unique_ids(self) -> BotsSettings:
        ids = [a.id for a in self.accounts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"accounts: duplicate account id(s) {', '.join(dupes)}")
        return self


class SandboxSettings(_Section):
    enabled: bool = True
    """Run the simulated WeChat in-process (the embedded default)."""
    residents_per_unit: int = Field(default=3, ge=0, le=490)
    """Simulated residents in each unit room besides its leaders."""
    seed: int = 2022
    """Seed of every random choice the sandbox makes (risk control, failures)."""
    send_latency: Annotated[timedelta, BeforeValidator(_parse_duration)] = timedelta(0)
    """Simulated latency of one send."""
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    """Probability that a send fails with a transient error."""
    throttle_cooldown: Duration = timedelta(seconds=60)
    """How long an account that sent too fast is frozen (发送消息过于频繁)."""
    enforce_rate_limits: bool = True
    """Apply each account's rate and burst in the sandbox, as WeChat would."""
    control_from: Literal["loopback", "any"] = "loopback"
    """Who may use the sandbox's control API (post as any member, log accounts out):
    only clients on this machine (``loopback``), or anyone who reaches the port."""


class Category(_Section):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    department: str
    """Code of the department that takes the category when a grid blows the whistle."""
    keywords: list[str] = Field(default_factory=list)
    """Extra words that point to this category (added to the built-in lexicon)."""


class Department(_Section):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    """Other names people write for it in chat (吹哨 T... 司法局)."""


class SlaTimes(_Section):
    accept: Duration
    """Time to accept (签收) a new ticket."""
    resolve: Duration
    """Time to resolve (办结) it."""


class SlaSettings(_Section):
    urgent: SlaTimes = SlaTimes(accept=timedelta(minutes=15), resolve=timedelta(hours=2))
    normal: SlaTimes = SlaTimes(accept=timedelta(hours=2), resolve=timedelta(days=7))
    remind_before: float = Field(default=0.2, gt=0, lt=1)
    """Remind the assignee when this share of the time is left."""


def _default_departments() -> list[Department]:
    return [
        Department(code="justice", name="区司法局", aliases=["司法局", "司法所"]),
        Department(code="petitions", name="区信访局", aliases=["信访局", "信访"]),
        Department(code="ecology", name="涵江生态环境局", aliases=["生态环境局", "环保局"]),
        Department(code="sanitation", name="镇环卫所", aliases=["环卫所", "环卫"]),
        Department(code="housing", name="住建局", aliases=["区住建局", "建设局"]),
        Department(code="water", name="自来水公司", aliases=["水务公司", "自来水"]),
        Department(code="emergency", name="应急管理局", aliases=["应急局"]),
        Department(code="fire", name="消防救援大队", aliases=["消防", "消防队"]),
        Department(code="police", name="派出所", aliases=["公安", "国欢派出所"]),
        Department(code="civil_affairs", name="民政局", aliases=["区民政局", "民政"]),
        Department(code="health", name="卫健局", aliases=["卫生健康局", "卫健委"]),
        Department(code="comprehensive", name="镇综治中心", aliases=["综治中心", "综治办"]),
    ]


def _default_categories() -> list[Category]:
    rows = [
        ("dispute", "邻里纠纷", "justice"),
        ("noise", "噪音扰民", "ecology"),
        ("sanitation", "环境卫生", "sanitation"),
        ("pollution", "生态环境", "ecology"),
        ("property", "物业管理", "housing"),
        ("infrastructure", "市政设施", "housing"),
        ("safety", "安全隐患", "emergency"),
        ("public_order", "社会治安", "police"),
        ("consult", "政策咨询", "petitions"),
        ("assistance", "民生救助", "civil_affairs"),
        ("epidemic", "疫情防控", "health"),
        ("other", "其他诉求", "comprehensive"),
    ]
    return [Category(code=c, name=n, department=d) for c, n, d in rows]


class TicketSettings(_Section):
    categories: list[Category] = Field(default_factory=_default_categories)
    sla: SlaSettings = SlaSettings()
    duplicate_window: Duration = timedelta(hours=48)
    """A report like an open ticket of the same grid and category within this window joins it."""
    flood_limit_per_hour: int = Field(default=5, ge=1)
    """Tickets one resident may open per hour before getting a polite notice."""
    rating_timeout: Duration = timedelta(days=3)
    """No rating after this long closes the ticket with "no rating"."""
    duplicate_similarity: float = Field(default=0.45, gt=0, le=1)
    """How alike two reports must be to merge (overlap of their character bigrams, 0-1)."""
    max_extensions: int = Field(default=2, ge=0, le=10)
    """延期 at most this many times per ticket."""
    max_extension_days: int = Field(default=7, ge=1, le=90)
    """Each 延期 adds at most this many days."""
    timer_interval: Duration = timedelta(seconds=30)
    """How often the scheduler looks for due SLA reminders, escalations and rating timeouts."""
    shop_owner_silence: Duration = timedelta(hours=2)
    """双单元长: a ticket from a shop (沿街商铺) or a task checklist item for it goes to the
    shop's owner (法人单元长) first; when the owner has not answered after this long, the
    shop's second unit leader is reminded privately to follow up with the owner."""

    @model_validator(mode="after")
    def _accept_within_resolve(self) -> TicketSettings:
        for name in ("urgent", "normal"):
            times: SlaTimes = getattr(self.sla, name)
            if times.accept > times.resolve:
                raise ValueError(
                    f"sla.{name}: accept ({times.accept}) must not be longer than "
                    f"resolve ({times.resolve})"
                )
        return self


class CadenceSettings(_Section):
    """日清、周商、旬查、月结: when they run (crontab, local time) and what they send."""

    daily: Cron = "30 17 * * *"
    """日清: each grid leader's digest and one line per grid in the village group."""
    weekly: Cron = "0 9 * * mon"
    """周商: each village's consultation agenda of hard cases."""
    ten_day: Cron = "0 9 10,20,last * *"
    """旬查: on the 10th, the 20th and the last day of the month (``last``)."""
    monthly: Cron = "0 9 1 * *"
    """月结: the report of the month that ended, with its chart image, to the town group
    and privately to the town officials."""
    catch_up: Duration = timedelta(hours=12)
    """A cadence missed while the process was down runs at start if it is at most this late."""
    all_clear_line: bool = False
    """On a day with nothing open, post one short 「今日已清」 line in the village group
    (otherwise a clear day sends nothing)."""
    consult_overdue_days: int = Field(default=3, ge=0, le=365)
    """周商 agenda: tickets overdue by more than this many days."""
    consult_in_village_group: bool = True
    """Post the agenda in the village group as well as privately to the participants."""
    consult_due_days: int = Field(default=7, ge=1, le=90)
    """A consultation outcome without a due date is due this many days later."""
    long_open_days: int = Field(default=14, ge=1, le=365)
    """旬查: open longer than this counts as long-open."""
    call_backs_per_village: int = Field(default=2, ge=0, le=100)
    """旬查: closed tickets per village drawn at random for a call-back (回访)."""
    dispute_categories: list[str] = Field(default_factory=lambda: ["dispute"])
    """月结: categories counted as disputes (矛盾纠纷) when resolved."""
    petition_categories: list[str] = Field(default_factory=list)
    """月结: categories counted as petitions (信访); tickets whistled to a petitions
    department count too (see ``petition_departments``)."""
    petition_departments: list[str] = Field(default_factory=lambda: ["petitions"])
    """月结: department codes whose tickets are petitions (人次 = reporters)."""


class ReminderIntervals(_Section):
    """When a group that has not acknowledged a notice is chased (from the send)."""

    remind_group: Duration
    """Reminder in the group, @-mentioning its unit leader."""
    tell_grid_leader: Duration
    """The grid leader is told which units are silent."""
    tell_village: Duration
    """The village station chief is told."""

    @model_validator(mode="after")
    def _ordered(self) -> ReminderIntervals:
        if not self.remind_group < self.tell_grid_leader < self.tell_village:
            raise ValueError("intervals must grow: remind_group < tell_grid_leader < tell_village")
        return self


class BroadcastSettings(_Section):
    deadline: Duration = timedelta(seconds=180)
    """Default time within which a notice must reach every group in scope."""
    resend_uncertain: bool = True
    """Re-send deliveries caught mid-send by a crash (a duplicate beats a miss)."""
    ack_words: list[str] = Field(
        default_factory=lambda: ["收到", "已阅", "1", "好的", "好", "明白"]
    )
    """Replies that count as an acknowledgement of the latest notice in the group."""
    ack_window: Duration = timedelta(hours=24)
    """A reply counts for the latest notice that reached the group within this window."""
    loss_budget: float = Field(default=0.1, ge=0, lt=1)
    """Share of the bot accounts WeChat may take away during a notice (logouts, bans). A
    notice's reach is predicted under this loss as well as without it, and
    ``gridcast plan accounts`` sizes the deployment for it."""
    reminder_rate_share: float = Field(default=0.8, gt=0, le=1)
    """Share of each bot account's send rate that chasing reminders (催办) are planned
    with; the rest stays free for replies to residents while thousands of reminders go
    out."""
    reminders_normal: ReminderIntervals = ReminderIntervals(
        remind_group=timedelta(minutes=30),
        tell_grid_leader=timedelta(hours=2),
        tell_village=timedelta(hours=6),
    )
    reminders_urgent: ReminderIntervals = ReminderIntervals(
        remind_group=timedelta(minutes=5),
        tell_grid_leader=timedelta(minutes=15),
        tell_village=timedelta(minutes=30),
    )


class MetricsSettings(_Section):
    """``/metrics`` for Prometheus."""

    enabled: bool = True
    listen: str | None = Field(default=None, pattern=r"^[^\s:]+:\d{1,5}$")
    """A second address (``host:port``) where ``/metrics`` answers without a token: bind
    it to an interface only Prometheus reaches. Elsewhere ``/metrics`` needs a token of
    role ``monitor`` (or a town official's or admin's)."""


class BackupSettings(_Section):
    """The scheduled backup (``gridcast backup FILE`` makes one by hand)."""

    enabled: bool = True
    schedule: Cron = "30 2 * * *"
    """When (crontab, local time); daily at 02:30 by default."""
    dir: Path | None = None
    """Where the scheduled backups go. Default: ``backups`` in the data directory."""
    keep: int = Field(default=14, ge=1, le=3650)
    """How many scheduled backups to keep; older ones are deleted."""


class PrivacySettings(_Section):
    """Personal data (《个人信息保护法》)."""

    message_retention: Duration = timedelta(days=180)
    """Residents' message texts of tickets closed longer than this are redacted (the
    ticket, its category, times and rating stay for the statistics)."""


CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]


class CapRule(_Section):
    """Which CAP warnings are sent at once and which wait for an official's confirmation."""

    severities: list[CapSeverity] = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    """CAP ``<event>`` names (台风, 暴雨 ...); empty matches every event."""
    action: Literal["send", "confirm"]


class CapSettings(_Section):
    """CAP 1.2 warnings from the meteorological and emergency authorities."""

    enabled: bool = True
    watch_dir: Path | None = None
    """A directory where CAP files are dropped; each is read once and moved to
    ``done/`` or ``rejected/`` beside it."""
    watch_interval: Duration = timedelta(seconds=10)
    issuer: str = Field(default="镇应急管理办公室", min_length=1, max_length=50)
    """The signature of notices made from warnings."""
    rules: list[CapRule] = Field(
        default_factory=lambda: [CapRule(severities=["Extreme"], action="send")]
    )
    """The first rule that matches decides; no match waits for confirmation."""
    geocodes: dict[str, str] = Field(default_factory=dict)
    """Geocode value (行政区划代码) -> org path below the town (empty: the whole town)."""
    templates: dict[str, str] = Field(default_factory=dict)
    """Notice text per ``event/severity``, ``event`` or ``*``; placeholders
    ``{event} {severity} {severity_zh} {headline} {description} {instruction} {area}
    {sender} {expires}``. Built-in templates cover the rest."""
    allowed_senders: list[str] = Field(default_factory=list)
    """CAP ``<sender>`` values accepted; empty accepts any."""


class Open311Settings(_Section):
    """Open311 GeoReport v2 (``/open311/v2``)."""

    jurisdiction_id: str | None = None
    """When set, requests must name this jurisdiction."""


class Settings(_Section):
    """One gridcast deployment."""

    data_dir: Path = Path("data")
    """Where the SQLite database and generated files live."""
    town: TownSettings = TownSettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    bots: BotsSettings = BotsSettings()
    sandbox: SandboxSettings = SandboxSettings()
    departments: list[Department] = Field(default_factory=_default_departments)
    tickets: TicketSettings = TicketSettings()
    cadences: CadenceSettings = CadenceSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    metrics: MetricsSettings = MetricsSettings()
    backup: BackupSettings = BackupSettings()
    privacy: PrivacySettings = PrivacySettings()
    cap: CapSettings = CapSettings()
    open311: Open311Settings = Open311Settings()
    admins: list[str] = Field(default_factory=list)
    """Phones (11 digits) of the roster people who are system admins: bot accounts,
    roster import, API tokens, the whole audit trail."""

    @field_validator("admins")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"1[3-9]\d{9}", v)]
        if bad:
            raise ValueError(f"not an 11-digit mobile number: {', '.join(bad[:5])}")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        codes = [d.code for d in self.departments]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"departments: duplicate code(s) {', '.join(dupes)}")
        for i, category in enumerate(self.tickets.categories):
            if category.department not in codes:
                raise ValueError(
                    f"tickets.categories[{i}].department = {category.department!r}: "
                    f"not a department code; known: {', '.join(codes)}"
                )
        if not self.sandbox.enabled:
            missing = [a.id for a in self.account_settings() if not a.endpoint]
            if missing:
                raise ValueError(
                    f"bots.accounts: {', '.join(missing[:5])} ha(s) no endpoint, and sandbox.enabled is "
                    "false: give every account the host:port of its puppet service"
                )
        cat_codes = [c.code for c in self.tickets.categories]
        dupes = sorted({c for c in cat_codes if cat_codes.count(c) > 1})
        if dupes:
            raise ValueError(f"tickets.categories: duplicate code(s) {', '.join(dupes)}")
        return self

    @property
    def database_url(self) -> str:
        """The database URL, password included (never print it: see :meth:`safe_database_url`)."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'gridcast.db'}"

    def safe_database_url(self) -> str:
        """The database URL with its password masked, for output and logs."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL: say what kind it is, nothing more
            return self.database_url.split("://", 1)[0] + "://***"

    def account_settings(self) -> list[BotAccountSettings]:
        """The configured accounts, or the generated sandbox deployment."""
        if self.bots.accounts:
            return list(self.bots.accounts)
        return [
            BotAccountSettings(
                id=f"gridbot{i:02d}",
                name=f"网格助手{i:02d}",
                rate_per_s=self.bots.rate_per_s,
                burst=self.bots.burst,
            )
            for i in range(1, self.bots.sandbox_accounts + 1)
        ]


class ConfigError(Exception):
    """The configuration cannot be used; the message names every problem."""


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(node: Any, env: Mapping[str, str], path: str, missing: list[str]) -> Any:
    if isinstance(node, dict):
        return {
            k: _expand_env(v, env, f"{path}.{k}" if path else str(k), missing)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand_env(v, env, f"{path}[{i}]", missing) for i, v in enumerate(node)]
    if isinstance(node, str):

        def substitute(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                missing.append(f"{path}: environment variable {m.group(1)} is not set")
                return ""
            return env[m.group(1)]

        return _ENV_REF.sub(substitute, node)
    return node


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the section that holds ``loc`` (for unknown-key errors)."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner else annotation
    return list(getattr(model, "model_fields", {}))


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = _format_loc(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{key}: unknown key{hint}"
    if error["type"] == "value_error" and not loc:
        return str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) else f" = {value!r}"
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}{shown}: {msg}"


WECHATY_TOKEN = "WECHATY_PUPPET_SERVICE_TOKEN"
WECHATY_ENDPOINT = "WECHATY_PUPPET_SERVICE_ENDPOINT"
WECHATY_CA = "WECHATY_PUPPET_SERVICE_TLS_CA_CERT"
WECHATY_SERVER_NAME = "WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME"


def _wechaty_env(raw: dict[str, Any], env: Mapping[str, str], missing: list[str]) -> dict[str, Any]:
    """The wechaty convention for a single-account deployment: with
    ``WECHATY_PUPPET_SERVICE_TOKEN`` (and ``_ENDPOINT``) set and no ``bots.accounts`` in
    the file, one account ``wechaty`` on that puppet service, and no sandbox. TLS when
    ``WECHATY_PUPPET_SERVICE_TLS_CA_CERT`` (a PEM file) or ``_TLS_SERVER_NAME`` is set."""
    token = env.get(WECHATY_TOKEN)
    bots = raw.get("bots") if isinstance(raw.get("bots"), dict) else {}
    if not token or (isinstance(bots, dict) and bots.get("accounts")):
        return raw
    endpoint = env.get(WECHATY_ENDPOINT)
    if not endpoint:
        missing.append(
            f"{WECHATY_TOKEN} is set but {WECHATY_ENDPOINT} is not: give the puppet "
            "service's host:port (gridcast does not look endpoints up on the internet)"
        )
        return raw
    account: dict[str, Any] = {"id": "wechaty", "name": "wechaty", "endpoint": endpoint}
    if env.get(WECHATY_CA) or env.get(WECHATY_SERVER_NAME):
        account["tls"] = True
        if env.get(WECHATY_CA):
            account["tls_ca_file"] = env[WECHATY_CA]
        if env.get(WECHATY_SERVER_NAME):
            account["tls_server_name"] = env[WECHATY_SERVER_NAME]
    account["token"] = "${" + WECHATY_TOKEN + "}"  # expanded below, kept a secret
    sandbox = raw.get("sandbox") if isinstance(raw.get("sandbox"), dict) else {}
    return {
        **raw,
        "bots": {**(bots or {}), "accounts": [account]},
        "sandbox": {"enabled": False, **(sandbox or {})},
    }


def parse_settings(
    raw: Any, *, source: str = "config.yaml", env: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed YAML document."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys, not {type(raw).__name__}"
        )
    missing: list[str] = []
    environment = os.environ if env is None else env
    raw = _wechaty_env(raw, environment, missing)
    expanded = _expand_env(raw, environment, "", missing)
    if missing:
        raise ConfigError(f"{source}: " + "; ".join(missing))
    try:
        return Settings.model_validate(expanded)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n{lines}") from None


def load_settings(path: Path | None = None, *, data_dir: Path | None = None) -> Settings:
    """Load ``path`` (default ``./config.yaml`` when it exists, else the built-in defaults).

    ``data_dir`` overrides the file's ``data_dir`` (the ``--data-dir`` option).
    """
    if path is None:
        path = DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None
    raw: Any = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    settings = parse_settings(raw, source=source)
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings
