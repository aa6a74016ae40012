"""The local stack's warm Spark: one Spark Connect server that every local job is a thin client of.

It is started from the pyspark package itself (which ships the server's jar but not Spark's `sbin/` scripts) with
`spark-submit --class <server>`, configured by `sluice.spark.session_conf`, the same function that configures a
classic session.
"""

from __future__ import annotations

from pathlib import Path

from sluice.spark import SparkUnavailable, require_server, session_conf
from sluice.stack import prerequisites
from sluice.stack.services import Service

# Spark's log4j2 at WARN: its INFO lines would fill the log with every task of every job.
LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.connect.name = org.apache.spark.sql.connect.service.SparkConnectServer
logger.connect.level = INFO
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

    def conf(self) -> dict[str, str]:
        return session_conf(self.settings)

    def server_args(self) -> list[str]:
        return []

    def launch(self) -> None:
        prerequisites.jar_dir("spark")  # names `make setup` if the jars are missing
        conf_dir = self.dir / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "log4j2.properties").write_text(LOG4J2)
        home = spark_home()
        argv = [str(home / "bin" / "spark-submit"), "--class", self.main_class, "--name", f"sluice-{self.name}"]
        for key, value in self.conf().items():
            argv += ["--conf", f"{key}={value}"]
        env = {"SPARK_HOME": str(home), "SPARK_CONF_DIR": str(conf_dir), "SPARK_LOCAL_IP": "127.0.0.1"}
        self.process.start([*argv, *self.server_args()], env=env, cwd=self.dir)


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


SPARK_SERVICES: tuple[type[Service], ...] = (SparkConnect,)
