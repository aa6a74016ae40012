"""The local stack's Spark servers, each its own JVM: the warm Spark Connect server that every local job is a thin
client of, and the analysts' read-only SQL endpoint (Spark Thrift Server), so that a heavy query cannot take a build
down with it.

Both are started from the pyspark package itself (which ships their jars but not Spark's `sbin/` scripts) with
`spark-submit --class <server>`, configured by `sluice.spark.session_conf`, the same function that configures a
classic session. Their conf goes in a properties file readable by its owner only: on the command line, the secrets
in it would be visible to every local user in `ps`.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.settings import Settings
from sluice.spark import SparkUnavailable, require_server, s3a_conf, session_conf
from sluice.stack import prerequisites
from sluice.stack.process import StackError
from sluice.stack.services import Service

if TYPE_CHECKING:
    from pyhive import hive

# Spark's log4j2 at WARN: its INFO lines would fill the log with every task of every job.
LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
# Warns of an internal property on every statement.
logger.hiveconf.name = org.apache.hadoop.hive.conf.HiveConf
logger.hiveconf.level = ERROR
"""


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class SparkServer(Service):
    """A Spark driver that serves clients, run by `spark-submit --class main_class` with Sluice's Spark conf."""

    main_class: str
    stage = 1  # after PostgreSQL (the metastore) and the object store (the lake)
    start_timeout = 120.0
    log4j2 = LOG4J2

    def conf(self) -> dict[str, str]:
        return session_conf(self.settings)

    def server_args(self) -> list[str]:
        return []

    def run_as(self) -> pwd.struct_passwd | None:
        """The system user the server runs as; None: the current one."""
        return None

    def launch(self) -> None:
        prerequisites.jar_dir("spark")  # names `make setup` if the jars are missing
        user = self.run_as()
        conf_dir = self.dir / "conf"  # the launcher's: readable, not writable, by the server
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "log4j2.properties").write_text(
            self.log4j2 + f"logger.server.name = {self.main_class}\nlogger.server.level = INFO\n"
        )
        properties = conf_dir / "spark.conf"
        write_properties(properties, self.conf(), gid=user.pw_gid if user else None)
        home = spark_home()
        argv = [str(home / "bin" / "spark-submit"), "--class", self.main_class, "--name", f"sluice-{self.name}"]
        argv += ["--properties-file", str(properties), *self.server_args()]
        env = {"SPARK_HOME": str(home), "SPARK_CONF_DIR": str(conf_dir), "SPARK_LOCAL_IP": "127.0.0.1"}
        if user:
            group = grp.getgrgid(user.pw_gid).gr_name
            self.process.start(argv, env=env, cwd=self.dir, user=user.pw_name, group=group)
        else:
            self.process.start(argv, env=env, cwd=self.dir)


def write_properties(path: Path, conf: dict[str, str], *, gid: int | None = None) -> None:
    """A Spark properties file, readable by its owner (and group `gid`) only, as it holds secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    path.chmod(0o600)
    if gid is not None:
        os.chown(path, -1, gid)
        path.chmod(0o640)
    escaped = {key: value.replace("\\", "\\\\").replace("\n", "\\n") for key, value in conf.items()}
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(escaped.items())))


class SparkConnect(SparkServer):
    """The compute of every local job: a warm driver on loopback; jobs connect to `settings.spark_remote`."""

    name = "spark-connect"
    main_class = "org.apache.spark.sql.connect.service.SparkConnectServer"

    def ports(self) -> dict[int, str]:
        return {self.settings.spark_connect_port: "SLUICE_SPARK_CONNECT_PORT"}

    def address(self) -> str:
        return f"sc://127.0.0.1:{self.settings.spark_connect_port}"

    def conf(self) -> dict[str, str]:
        return super().conf() | {
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.settings.spark_connect_port),
        }

    def healthy(self) -> bool:
        """A session answers a query that touches the catalog (the metastore in PostgreSQL)."""
        from pyspark.sql import SparkSession

        try:
            require_server(self.address(), timeout=2)
        except SparkUnavailable:
            return False
        session = SparkSession.builder.remote(self.address()).create()
        try:
            return bool(session.sql("show databases").count() >= 1)
        finally:
            session.stop()


UNPRIVILEGED_USER = "nobody"
_INITIALISE = (
    "the writer's Spark creates the metastore's tables on first use: start spark-connect first (`sluice up` does), or "
    "run any Spark job with the catalog"
)


def thrift_conf(settings: Settings) -> dict[str, str]:
    """The jobs' Spark conf (`session_conf`: jars, catalog, lake) with the analysts' read-only identities in place of
    the writer's, and DataNucleus forbidden to create or change anything in the metastore's database."""
    replaced = s3a_conf(settings, reader=True) | {
        "spark.hadoop.javax.jdo.option.ConnectionUserName": settings.postgres_reader_user,
        "spark.hadoop.javax.jdo.option.ConnectionPassword": settings.secret("postgres_reader_password"),
        "spark.hadoop.datanucleus.schema.autoCreateTables": "false",
        "spark.hadoop.datanucleus.schema.autoCreateColumns": "false",
        "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
    }
    conf = session_conf(settings)
    stale = sorted(set(replaced) - set(conf))
    if stale:  # a key renamed in sluice.spark would otherwise leave the writer's value in force
        raise KeyError(f"thrift_conf replaces keys that session_conf no longer sets: {stale}")
    added = {
        "spark.driver.memory": settings.spark_thrift_memory,
        "spark.hadoop.hive.server2.thrift.bind.host": "127.0.0.1",
        "spark.hadoop.hive.server2.thrift.port": str(settings.spark_thrift_port),
        "spark.hadoop.datanucleus.schema.autoCreateAll": "false",
        # Not the mechanism (the role's grants are), but DROP then fails saying "read-only datastore" rather than
        # with a PostgreSQL error about table SDS.
        "spark.hadoop.datanucleus.readOnlyDatastore": "true",
        # A refused metastore write is not worth Hive's default 10 retries 2 s apart.
        "spark.hadoop.hive.hmshandler.retry.attempts": "1",
        "spark.hadoop.hive.hmshandler.retry.interval": "1000ms",
    }
    return conf | replaced | added


def connect(settings: Settings, *, timeout: float = 30.0, username: str = "sluice") -> hive.Connection:
    """A PyHive connection to the endpoint whose socket gives up after `timeout` seconds (PyHive's own never does)."""
    import thrift_sasl
    from pyhive import hive
    from pyhive.hive import get_pure_sasl_client
    from thrift.transport.TSocket import TSocket

    host, port = "127.0.0.1", settings.spark_thrift_port
    sock = TSocket(host, port)
    sock.setTimeout(timeout * 1000)
    # hive.server2.authentication=NONE still speaks SASL PLAIN; any password is accepted.
    transport = thrift_sasl.TSaslClientTransport(
        lambda: get_pure_sasl_client(host=host, sasl_auth="PLAIN", username=username, password="x"), "PLAIN", sock
    )
    return hive.connect(thrift_transport=transport, username=username)


class SparkThriftServer(SparkServer):
    """The analysts' read-only SQL endpoint on 127.0.0.1:`settings.spark_thrift_port`: HiveServer2 (PyHive, `hive://`).

    Read-only by mechanism, not by client settings: it reads the lake as the object store's reader identity (list and
    read the lake bucket, nothing else) and the Hive metastore as a PostgreSQL role that may only SELECT, both set up
    by the stack (`ObjectStore`, `Postgres`), so a write (INSERT, CREATE, DROP, ALTER) is refused by S3 or PostgreSQL.
    """

    name = "spark-thrift"
    main_class = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
    log4j2 = (
        LOG4J2
        + "# It warns on every closed statement that it had no job to cancel.\n"
        + ("logger.dag.name = org.apache.spark.scheduler.DAGScheduler\nlogger.dag.level = ERROR\n")
    )
    stage = 2  # after the metastore (PostgreSQL), the lake and the writer's Spark, which creates the metastore's tables
    start_timeout = 120.0

    def ports(self) -> dict[int, str]:
        return {self.settings.spark_thrift_port: "SLUICE_SPARK_THRIFT_PORT"}

    def address(self) -> str:
        return f"hive://127.0.0.1:{self.settings.spark_thrift_port}/default"

    def require_catalog(self) -> None:
        """Fail with the fix unless the reader can read an initialised metastore. The reader may create nothing, so it
        cannot initialise one: the writer's Spark creates the tables on first use. Without them the server's start
        fails in a thread and leaves its JVM running, never healthy."""
        import psycopg2

        s = self.settings
        where = f"the Hive metastore (PostgreSQL database {s.metastore_database!r})"
        try:
            conn = psycopg2.connect(s.postgres_dsn(s.metastore_database, reader=True), connect_timeout=5)
        except psycopg2.OperationalError as error:
            raise StackError(
                f"{self.name}: role {s.postgres_reader_user!r} cannot connect to {where}: {str(error).strip()}; "
                "`sluice up` creates the role (PostgreSQL must be running)"
            ) from None
        try:
            with conn.cursor() as cur:
                cur.execute("""select 1 from "DBS" where "NAME" = 'default'""")
                if cur.fetchone() is None:
                    raise StackError(f"{self.name}: {where} has no `default` database; {_INITIALISE}")
        except psycopg2.errors.UndefinedTable:
            raise StackError(f"{self.name}: {where} has no tables yet; {_INITIALISE}") from None
        except psycopg2.errors.InsufficientPrivilege:
            raise StackError(
                f"{self.name}: role {s.postgres_reader_user!r} may not read {where}; `sluice up` grants it (it runs "
                "Postgres.after_healthy again)"
            ) from None
        finally:
            conn.close()

    def run_as(self) -> pwd.struct_passwd | None:
        """Under root, the server runs as `nobody`: SQL can write the server's local disk (INSERT OVERWRITE LOCAL
        DIRECTORY, which first empties the folder), and as root it could wipe any folder, the stack's state included.
        Under another user it runs as that user (who can only do that to their own files)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            raise StackError(
                f"{self.name}: running as root, the SQL endpoint runs as the `{UNPRIVILEGED_USER}` system user, "
                "which does not exist here"
            ) from None

    def conf(self) -> dict[str, str]:
        return thrift_conf(self.settings)

    def server_args(self) -> list[str]:
        """Hive's local scratch and per-query log folders, under the service's state instead of /tmp."""
        folders = {
            "hive.exec.local.scratchdir": "scratch",
            "hive.exec.scratchdir": "scratch",
            "hive.downloaded.resources.dir": "resources",
            "hive.server2.logging.operation.log.location": "operation_logs",
        }
        return [arg for key, folder in folders.items() for arg in ("--hiveconf", f"{key}={self.dir / folder}")]

    def launch(self) -> None:
        self.require_catalog()
        user = self.run_as()
        for folder in ("scratch", "resources", "operation_logs"):
            (self.dir / folder).mkdir(parents=True, exist_ok=True)
            if user:
                os.chown(self.dir / folder, user.pw_uid, user.pw_gid)
        super().launch()

    def healthy(self) -> bool:
        """A HiveServer2 session runs a query."""
        try:  # Thrift's socket would log an error for each refused connection while the server starts
            socket.create_connection(("127.0.0.1", self.settings.spark_thrift_port), timeout=2).close()
        except OSError:
            return False
        connection = connect(self.settings, timeout=10)
        try:
            cursor = connection.cursor()
            cursor.execute("select 1")
            return bool(cursor.fetchall() == [(1,)])
        finally:
            connection.close()


SPARK_SERVICES: tuple[type[Service], ...] = (SparkConnect, SparkThriftServer)
