"""BinLake manager MetaData bodies the manager API tests send (one instance that Tower does not know yet)."""
import copy

NEW_DB = {
    "dbInfo": {"slaveId": 0, "host": "10.7.0.1", "port": 3307, "user": "binlake", "password": "pw-7",
               "createTime": 0, "state": "ONLINE", "rule": [], "metaVersion": 1, "slaveUUID": "uuid-7"},
    "slave": {"binlogFile": "mysql-bin.000009", "binlogPos": 154, "executedGtidSets": "", "leader": "wave-1",
              "leaderVersion": 0, "binlogWhen": 0, "transactionId": "", "instanceIp": "10.7.0.1",
              "withGTID": False, "preLeader": ""},
    "master": None,
    "counter": {"retryTimes": 0, "killTimes": 0},
    "terminal": None,
    "candidate": ["wave-1", "wave-2"],
    "zk": None,
}

MANAGER_TOKEN = "manager-secret"


def new_db(db_info=None, **slave):
    """A copy of NEW_DB with `db_info` merged into dbInfo and `slave` into slave."""
    body = copy.deepcopy(NEW_DB)
    body["dbInfo"].update(db_info or {})
    body["slave"].update(slave)
    return body
