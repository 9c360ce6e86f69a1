"""Every enumerated value of the metadata model, in one place (BinLake's enums keep their spelling)."""
from django.db import models


class MemberRole(models.TextChoices):
    USER = "user", "user"
    ADMIN = "admin", "admin"
    CREATOR = "creator", "creator"


GROUP_ADMIN_ROLES = (MemberRole.ADMIN, MemberRole.CREATOR)


class FilterType(models.TextChoices):
    WHITE = "WHITE", "WHITE"
    BLACK = "BLACK", "BLACK"


class EventType(models.TextChoices):
    INSERT = "INSERT", "INSERT"
    UPDATE = "UPDATE", "UPDATE"
    DELETE = "DELETE", "DELETE"
    CREATE = "CREATE", "CREATE"
    ALTER = "ALTER", "ALTER"
    ERASE = "ERASE", "ERASE"
    QUERY = "QUERY", "QUERY"
    TRUNCATE = "TRUNCATE", "TRUNCATE"
    RENAME = "RENAME", "RENAME"
    CINDEX = "CINDEX", "CINDEX"
    DINDEX = "DINDEX", "DINDEX"


ALL_EVENTS = "all"
ROW_EVENTS = (EventType.INSERT, EventType.UPDATE, EventType.DELETE)


class OrderType(models.TextChoices):
    NO_ORDER = "NO_ORDER", "no order"
    BUSINESS_KEY_ORDER = "BUSINESS_KEY_ORDER", "by business key"
    TABLE_ORDER = "TABLE_ORDER", "by table"
    DB_ORDER = "DB_ORDER", "by database"
    INSTANCE_ORDER = "INSTANCE_ORDER", "by instance"
    TRANSACTION_ORDER = "TRANSACTION_ORDER", "by transaction"


class StorageType(models.TextChoices):
    MQ_STORAGE = "MQ_STORAGE", "MQ_STORAGE"
    KV_STORAGE = "KV_STORAGE", "KV_STORAGE"


class InstanceStatus(models.TextChoices):
    INIT = "init", "init"
    WAIT = "wait", "wait"
    UNAUTHORIZED = "unauthorized", "unauthorized"
    AGREE = "agree", "agree"
    OPPOSE = "oppose", "oppose"
    DUMP = "dump", "dump"


# States past the DBA's approval of the instance's host:port: only these may use the global dump account.
DBA_APPROVED = (InstanceStatus.UNAUTHORIZED, InstanceStatus.AGREE, InstanceStatus.DUMP)


class DumpState(models.TextChoices):
    """BinLake's DbInfo.state: whether a `dump` instance should be dumping."""

    ONLINE = "ONLINE", "ONLINE"
    OFFLINE = "OFFLINE", "OFFLINE"


class TargetKind(models.TextChoices):
    BLACKHOLE = "blackhole", "blackhole"
    REDIS = "redis", "Redis"
    MONGODB = "mongodb", "MongoDB"
    CLICKHOUSE = "clickhouse", "ClickHouse"
    KAFKA = "kafka", "Kafka"
    AMQP = "amqp", "RabbitMQ"


class SubscriptionState(models.TextChoices):
    """TiCDC's changefeed states; CCR's running/paused map onto normal/stopped."""

    NORMAL = "normal", "normal"
    STOPPED = "stopped", "stopped"
    ERROR = "error", "error"
    FAILED = "failed", "failed"
    FINISHED = "finished", "finished"


class SyncPhase(models.TextChoices):
    """What a subscription is doing now (CCR's progress_state)."""

    FULL_SYNC = "FullSync", "full sync"
    INCREMENTAL = "IncrementalSync", "incremental"


class WorkerState(models.TextChoices):
    ALIVE = "alive", "alive"
    DEAD = "dead", "dead"


class FlowWindow(models.TextChoices):
    """Bifrost's flow windows (values keep Bifrost's spelling; labels are what people read): (points, seconds per point)."""

    MINUTE = "minute", "1 minute"
    TENMINUTE = "tenminute", "10 minutes"
    HOUR = "hour", "1 hour"
    EIGHTHOUR = "eighthour", "8 hours"
    DAY = "day", "1 day"


FLOW_WINDOWS = {
    FlowWindow.MINUTE: (12, 5),
    FlowWindow.TENMINUTE: (120, 5),
    FlowWindow.HOUR: (120, 30),
    FlowWindow.EIGHTHOUR: (96, 300),
    FlowWindow.DAY: (144, 600),
}
