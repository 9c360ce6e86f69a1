from .audit import AuditLog
from .config import Config
from .groups import Group, Member, SuperAdmin
from .identities import OIDCIdentity
from .instances import TRANSITIONS, Instance, TransitionError
from .rules import Filter, MqFilterRelation, MqRule, Rule
from .runtime import Checkpoint, FlowSample, SchemaVersion, Wave
from .subscriptions import Subscription
from .targets import Target, kind_of_uri, masked_uri

__all__ = [
    "AuditLog", "Checkpoint", "Config", "Filter", "FlowSample", "Group", "Instance", "Member", "MqFilterRelation",
    "MqRule", "OIDCIdentity", "Rule", "SchemaVersion", "Subscription", "SuperAdmin", "Target", "TRANSITIONS", "TransitionError", "Wave",
    "kind_of_uri", "masked_uri",
]
