#!/usr/bin/env python
"""Start and stop Tower's private local servers and write their URLs to .run/services.env.

    scripts/services.py up [NAME ...]   start what is not running yet (idempotent)
    scripts/services.py down            stop everything this script started
    scripts/services.py status          exit 0 when every service answers

Every server listens on 127.0.0.1 on a free port with its data in a private
directory, beside (never instead of) any system server of the same kind. A
server that does not answer in time fails the command with its log tail.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
STATE = RUN / "services.json"
ENV_FILE = RUN / "services.env"
# Data lives under /tmp: the RabbitMQ node runs as the `rabbitmq` user, which may not reach the checkout.
WORK = Path(os.environ.get("TOWER_SERVICES_DIR", f"/tmp/tower-services-{hashlib.md5(str(ROOT).encode()).hexdigest()[:8]}"))
NAMES = ("mariadb", "redis", "rabbitmq", "clickhouse", "mongo", "kafka")
START_TIMEOUT = {"rabbitmq": 90, "clickhouse": 60}


class ServiceError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def spawn(cmd, log: Path, env=None, cwd=None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
    return proc.pid


def wait_until(name, check, pid, log, timeout=None):
    deadline = time.monotonic() + (timeout or START_TIMEOUT.get(name, 30))
    last_error = None
    while time.monotonic() < deadline:
        if pid and not alive(pid):
            raise ServiceError(f"{name} exited during start-up; log tail ({log}):\n{log_tail(log)}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last_error = exc
        time.sleep(0.2)
    raise ServiceError(f"{name} did not answer within the deadline ({last_error}); log tail ({log}):\n{log_tail(log)}")


# --- one function pair per server: start() -> state dict, check(state) -> bool ---------------------


def start_mariadb(d=None, port=None, bind="127.0.0.1", row_metadata="FULL"):
    d = Path(d) if d else WORK / "mariadb"
    port = port or free_port()
    if not (d / "data" / "mysql").exists():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={d}/data", "--auth-root-authentication-method=normal",
             "--user=root", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    log = d / "mariadbd.err"
    pid = spawn(
        ["mariadbd", "--no-defaults", f"--datadir={d}/data", f"--port={port}", f"--bind-address={bind}",
         f"--socket={d}/my.sock", f"--pid-file={d}/mariadbd.pid", "--log-bin=mysql-bin", "--binlog-format=ROW",
         "--binlog-row-image=FULL", f"--binlog-row-metadata={row_metadata}", "--server-id=1", "--user=root",
         "--skip-name-resolve", f"--log-error={log}", "--max-connections=500", "--innodb-flush-log-at-trx-commit=2",
         "--sync-binlog=0", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"],
        d / "stdout.log",
    )
    return {"pid": pid, "port": port, "log": str(log), "url": f"mysql://root@127.0.0.1:{port}/"}


def check_mariadb(st):
    import pymysql

    pymysql.connect(host="127.0.0.1", port=st["port"], user="root", connect_timeout=1).close()
    return True


def start_redis(d=None, port=None):
    d = Path(d) if d else WORK / "redis"
    d.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = d / "redis.log"
    pid = spawn(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--databases", "256",
         "--dir", str(d), "--daemonize", "no", "--logfile", str(log)],
        d / "stdout.log",
    )
    return {"pid": pid, "port": port, "log": str(log), "url": f"redis://127.0.0.1:{port}/0"}


def check_redis(st):
    import redis

    return redis.Redis(host="127.0.0.1", port=st["port"], socket_timeout=1).ping()


def start_rabbitmq():
    d = WORK / "rabbitmq"
    shutil.rmtree(d, ignore_errors=True)
    (d / "mnesia").mkdir(parents=True)
    (d / "log").mkdir()
    (d / "enabled_plugins").write_text("[].\n")
    port, dist = free_port(), free_port()
    # Our own config and env files: the system ones pin the listener to 5672 and the node name.
    (d / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users.guest = true\n")
    (d / "rabbitmq-env.conf").write_text("")
    node = f"tower{port}@localhost"
    env = {
        "RABBITMQ_NODENAME": node, "RABBITMQ_NODE_PORT": str(port), "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_MNESIA_BASE": f"{d}/mnesia",
        "RABBITMQ_LOG_BASE": f"{d}/log", "RABBITMQ_ENABLED_PLUGINS_FILE": f"{d}/enabled_plugins",
        "RABBITMQ_FEATURE_FLAGS_FILE": f"{d}/feature_flags", "RABBITMQ_CONFIG_FILE": f"{d}/rabbitmq.conf",
        "RABBITMQ_CONF_ENV_FILE": f"{d}/rabbitmq-env.conf", "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    if os.geteuid() == 0:  # Debian's wrapper switches to the rabbitmq user, which must own the node's files
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(d)], check=True)
    log = d / "stdout.log"
    pid = spawn(["rabbitmq-server"], log, env=env, cwd="/tmp")
    return {"pid": pid, "port": port, "node": node, "log": str(log), "url": f"amqp://guest:guest@127.0.0.1:{port}/%2F"}


def check_rabbitmq(st):
    import pika

    params = pika.URLParameters(st["url"])
    params.socket_timeout = 2
    params.connection_attempts = 1
    pika.BlockingConnection(params).close()
    return True


def stop_rabbitmq(st):
    subprocess.run(["rabbitmqctl", "-n", st["node"], "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60, check=False)


CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/clickhouse.log</log><errorlog>{d}/clickhouse.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
"""

CLICKHOUSE_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


def start_clickhouse():
    d = WORK / "clickhouse"
    shutil.rmtree(d, ignore_errors=True)
    for sub in ("data", "tmp", "user_files", "format_schemas"):
        (d / sub).mkdir(parents=True)
    tcp, http = free_port(), free_port()
    (d / "config.xml").write_text(CLICKHOUSE_CONFIG.format(d=d, tcp=tcp, http=http))
    (d / "users.xml").write_text(CLICKHOUSE_USERS)
    binary = shutil.which("clickhouse-server") or shutil.which("clickhouse")
    if not binary:
        raise ServiceError("clickhouse-server is not installed (run scripts/bootstrap.sh)")
    cmd = [binary, f"--config-file={d}/config.xml"] if binary.endswith("-server") else [binary, "server", f"--config-file={d}/config.xml"]
    pid = spawn(cmd, d / "stdout.log", cwd=str(d))
    return {"pid": pid, "port": tcp, "http_port": http, "log": str(d / "clickhouse.err.log"),
            "url": f"clickhouse://127.0.0.1:{tcp}/default"}


def check_clickhouse(st):
    from clickhouse_driver import Client

    return Client("127.0.0.1", port=st["port"], connect_timeout=1).execute("SELECT 1") == [(1,)]


def start_mongo():
    d = WORK / "mongo"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    exe = Path(sys.executable).parent / "secantusd-py"
    pid = spawn([str(exe), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"], d / "mongo.log")
    return {"pid": pid, "port": port, "log": str(d / "mongo.log"), "url": f"mongodb://127.0.0.1:{port}/"}


def check_mongo(st):
    import pymongo

    client = pymongo.MongoClient(st["url"], serverSelectionTimeoutMS=1000)
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


def start_kafka():
    d = WORK / "kafka"
    d.mkdir(parents=True, exist_ok=True)
    addr = d / "bootstrap"
    addr.unlink(missing_ok=True)
    pid = spawn([sys.executable, str(ROOT / "scripts" / "kafka_mock.py"), str(addr)], d / "kafka.log")
    deadline = time.monotonic() + 20
    while not addr.exists() and time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    bootstrap = addr.read_text().strip() if addr.exists() else ""
    return {"pid": pid, "port": int(bootstrap.rsplit(":", 1)[1]) if bootstrap else 0, "log": str(d / "kafka.log"),
            "url": bootstrap}


def check_kafka(st):
    from confluent_kafka.admin import AdminClient

    if not st["url"]:
        return False
    md = AdminClient({"bootstrap.servers": st["url"]}).list_topics(timeout=2)
    return len(md.brokers) > 0


ENV_NAMES = {
    "mariadb": "TOWER_SOURCE_URL", "redis": "TOWER_REDIS_URL", "rabbitmq": "TOWER_AMQP_URL",
    "clickhouse": "TOWER_CLICKHOUSE_URL", "mongo": "TOWER_MONGO_URL", "kafka": "TOWER_KAFKA_BOOTSTRAP",
}


def load_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def save_state(state: dict):
    RUN.mkdir(exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2))
    lines = [f"{ENV_NAMES[n]}={st['url']}" for n, st in state.items() if n in ENV_NAMES]
    ENV_FILE.write_text("\n".join(lines) + "\n")


def is_up(name, st) -> bool:
    if not st or not alive(st.get("pid", 0)):
        return False
    try:
        return bool(globals()[f"check_{name}"](st))
    except Exception:
        return False


def up(names):
    state = load_state()
    # Start the slow ones first, then wait for all: RabbitMQ and ClickHouse take seconds.
    pending = {}
    for name in names:
        if is_up(name, state.get(name)):
            print(f"{name}: already running ({state[name]['url']})")
            continue
        if state.get(name):
            stop_one(name, state.pop(name))
        pending[name] = globals()[f"start_{name}"]()
        state[name] = pending[name]
        save_state(state)
    failures = []
    for name, st in pending.items():
        try:
            wait_until(name, lambda: globals()[f"check_{name}"](st), st["pid"], Path(st["log"]))
            print(f"{name}: started ({st['url']})")
        except ServiceError as exc:
            failures.append(str(exc))
            stop_one(name, st)
            state.pop(name, None)
    save_state(state)
    if failures:
        raise ServiceError("\n\n".join(failures))


def stop_one(name, st):
    if name == "rabbitmq" and alive(st.get("pid", 0)):
        stop_rabbitmq(st)
    pid = st.get("pid", 0)
    if pid and alive(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.monotonic() + 20
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def down():
    state = load_state()
    for name, st in state.items():
        stop_one(name, st)
        print(f"{name}: stopped")
    STATE.unlink(missing_ok=True)
    ENV_FILE.unlink(missing_ok=True)


def status() -> int:
    state = load_state()
    ok = True
    for name in NAMES:
        up_now = is_up(name, state.get(name))
        ok &= up_now
        print(f"{name}: {'up ' + state[name]['url'] if up_now else 'down'}")
    return 0 if ok else 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "status"
    try:
        if cmd == "up":
            up([n for n in (argv[2:] or NAMES)])
            return 0
        if cmd == "down":
            down()
            return 0
        if cmd == "status":
            return status()
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
