"""The local stack's long-running services: what each needs on disk, how it starts, how it is probed."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from sluice.settings import Settings
from sluice.stack import prerequisites
from sluice.stack.process import ManagedProcess, StackError, wait_until


class Service(ABC):
    """One daemon of the local stack, with its state under ``settings.home / name``."""

    name: str
    stage: int = 0  # services start stage by stage; a later stage may need an earlier one running
    start_timeout: float = 60.0
    stop_signal: int = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home / self.name
        self.process = ManagedProcess(self.name, settings.home / "run", settings.logs_dir / f"{self.name}.log")

    @abstractmethod
    def ports(self) -> dict[int, str]:
        """Ports the service binds, each with the setting that moves it."""

    @abstractmethod
    def address(self) -> str:
        """Where clients reach it."""

    @abstractmethod
    def launch(self) -> None:
        """Prepare state on first use, then start the process."""

    @abstractmethod
    def healthy(self) -> bool:
        """One cheap request a client would make; raises or returns False when not serving."""

    def after_healthy(self) -> None:  # noqa: B027 - an optional hook; most services need nothing
        """Work that needs the running service (buckets, databases); idempotent."""


class Kafka(Service):
    """Apache Kafka 4.x, one KRaft node acting as both controller and broker."""

    name = "kafka"
    start_timeout = 90.0

    def ports(self) -> dict[int, str]:
        return {
            self.settings.kafka_port: "SLUICE_KAFKA_PORT",
            self.settings.kafka_controller_port: "SLUICE_KAFKA_CONTROLLER_PORT",
        }

    def address(self) -> str:
        return self.settings.kafka_servers

    def write_config(self) -> Path:
        s = self.settings
        config = self.dir / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.dir / 'data'}",
                    # One broker: internal topics cannot be replicated.
                    "offsets.topic.replication.factor=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "num.partitions=3",
                    # Tests start consumer groups constantly; don't wait 3 s for more members.
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        (self.dir / "log4j2.properties").write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.out.type = Console",
                    "appender.out.name = OUT",
                    "appender.out.layout.type = PatternLayout",
                    "appender.out.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = WARN",
                    "rootLogger.appenderRef.out.ref = OUT",
                    "logger.server.name = kafka.server.KafkaRaftServer",
                    "logger.server.level = INFO",
                    "",
                ]
            )
        )
        return config

    def _java(self, main: str, *args: str) -> list[str]:
        classpath = f"{prerequisites.jar_dir('kafka')}/*"
        return [
            prerequisites.java_binary(),
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def launch(self) -> None:
        config = self.write_config()
        if not (self.dir / "data" / "meta.properties").exists():
            self.format_storage(config, base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        self.process.start(self._java("kafka.Kafka", str(config)))

    def format_storage(self, config: Path, cluster_id: str) -> None:
        # `--cluster-id=ID`, not `-t ID`: one random id in 64 starts with "-" and would be read as an option.
        formatted = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)),
            capture_output=True,
            text=True,
            check=False,
        )
        if formatted.returncode != 0:
            raise StackError(
                f"kafka: formatting storage in {self.dir / 'data'} failed:\n{formatted.stdout}{formatted.stderr}"
            )

    def healthy(self) -> bool:
        """Ready when it can coordinate consumer groups, not just when it answers: a new broker creates its offsets
        topic on the first group lookup, and answers CoordinatorNotAvailable until that topic has leaders."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.settings.kafka_servers, client_id="sluice-health", request_timeout_ms=5000
        )
        try:
            admin.list_group_offsets("sluice-stack-health")
            return True
        finally:
            admin.close()


class ObjectStore(Service):
    """SeaweedFS's all-in-one server with its S3 API; the lake bucket is created on start."""

    name = "s3"
    start_timeout = 60.0
    # Flags of SeaweedFS's other components, placed on the ports after the S3 port.
    # Each also takes its HTTP port + 10000 for gRPC.
    _PORT_FLAGS = ("-master.port", "-volume.port", "-filer.port", "-admin.port", "-s3.port.iceberg", "-s3.port.lance")

    def _component_ports(self) -> dict[str, int]:
        base = self.settings.s3_port
        return {flag: base + offset for offset, flag in enumerate(self._PORT_FLAGS, start=1)}

    def ports(self) -> dict[int, str]:
        http = [self.settings.s3_port, *self._component_ports().values()]
        return {port: "SLUICE_S3_PORT" for base in http for port in (base, base + 10000)}

    def address(self) -> str:
        return f"{self.settings.s3_url}/{self.settings.lake_bucket}"

    @property
    def identities_file(self) -> Path:
        return self.dir / "s3-identities.json"

    def _identities(self) -> str:
        """The S3 identities: the jobs' (everything), and the analysts' SQL endpoint's (list and read the lake)."""
        s = self.settings

        def identity(name: str, access_key: str, secret_key: str, actions: list[str]) -> dict[str, object]:
            return {
                "name": name,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": actions,
            }

        return json.dumps(
            {
                "identities": [
                    identity(
                        "sluice",
                        s.secret("s3_access_key"),
                        s.secret("s3_secret_key"),
                        ["Admin", "Read", "Write", "List", "Tagging"],
                    ),
                    # Bucket-scoped: no Write, Tagging or Admin anywhere, and nothing outside the lake buckets.
                    identity(
                        "sluice-reader",
                        s.secret("s3_reader_access_key"),
                        s.secret("s3_reader_secret_key"),
                        [f"{action}:{bucket}" for bucket in self._reader_buckets() for action in ("Read", "List")],
                    ),
                ]
            }
        )

    def _reader_buckets(self) -> list[str]:
        """This lake bucket and those the reader could read already: a run on another lake (a test's, a
        benchmark's) calls `up` with its own bucket, and must not take the stack's own lake from the endpoint."""
        buckets = {self.settings.lake_bucket}
        if self.identities_file.exists():
            for identity in json.loads(self.identities_file.read_text())["identities"]:
                if identity["name"] == "sluice-reader":
                    buckets |= {action.split(":", 1)[1] for action in identity["actions"] if ":" in action}
        return sorted(buckets)

    def _write_identities(self) -> bool:
        """Write the identities file; True if its content changed."""
        wanted = self._identities()
        identities = self.identities_file
        identities.parent.mkdir(parents=True, exist_ok=True)
        if identities.exists() and identities.read_text() == wanted:
            return False
        partial = identities.with_suffix(".tmp")  # renamed into place: a reload never reads half a file
        partial.write_text("")
        partial.chmod(0o600)  # before the keys go in
        partial.write_text(wanted)
        partial.replace(identities)
        return True

    def launch(self) -> None:
        s = self.settings
        identities = self.identities_file
        self._write_identities()
        self.process.start(
            [
                prerequisites.weed_binary(),
                "mini",
                f"-dir={self.dir / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={s.s3_port}",
                f"-s3.config={identities}",
                f"-bucket={s.lake_bucket}",
                "-webdav=false",
                "-admin.ui=false",
                "-master.volumeSizeLimitMB=1024",
                # Each bucket is a collection that grows several volumes at once; the default cap (free disk / volume
                # size) runs out after a few dozen buckets, and tests make one each. Volumes are sparse files.
                "-volume.max=2000",
                *(f"{flag}={port}" for flag, port in self._component_ports().items()),
            ]
        )

    def healthy(self) -> bool:
        from sluice.objectstore import s3_client

        s3_client(self.settings, connect_timeout=2, retries=0).head_bucket(Bucket=self.settings.lake_bucket)
        return True

    def after_healthy(self) -> None:
        """A server started before an identity was added (or a key changed) reloads the file on SIGHUP, so
        `sluice up` on a running stack needs no restart."""
        from sluice.objectstore import s3_client

        pid = self.process.pid()
        if not self._write_identities() or pid is None:
            return
        os.kill(pid, signal.SIGHUP)
        reader = s3_client(self.settings, reader=True, connect_timeout=2, retries=0)
        if not wait_until(lambda: reader.list_objects_v2(Bucket=self.settings.lake_bucket, MaxKeys=1), timeout=10):
            raise StackError(f"s3: the server did not load the new identities in {self.identities_file} on SIGHUP")


class Postgres(Service):
    """PostgreSQL from the system packages, its cluster under the stack's state directory."""

    name = "postgres"
    start_timeout = 60.0
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for clients to disconnect

    def ports(self) -> dict[int, str]:
        return {self.settings.postgres_port: "SLUICE_POSTGRES_PORT"}

    def address(self) -> str:
        s = self.settings
        return f"postgresql://{s.postgres_user}@{s.postgres_host}:{s.postgres_port}/{s.postgres_database}"

    def _run_as(self) -> str | None:
        """PostgreSQL refuses to run as root; under root it runs as the system `postgres` user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise StackError(
                "running as root, PostgreSQL needs the `postgres` system user; `apt-get install postgresql` creates it."
            ) from None
        return "postgres"

    def launch(self) -> None:
        bin_dir = prerequisites.postgres_bin_dir()
        user = self._run_as()
        data, sockets = self.dir / "data", self.dir / "run"
        for folder in (self.dir, sockets):
            folder.mkdir(parents=True, exist_ok=True)
            if user:
                shutil.chown(folder, user, user)
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)  # a half-made cluster from an interrupted initdb
            password_file = self.dir / "initdb-password"
            password_file.write_text(self.settings.secret("postgres_password"))
            if user:
                shutil.chown(password_file, user, user)
            try:
                init = subprocess.run(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        self.settings.postgres_user,
                        f"--pwfile={password_file}",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    user=user,
                )
            finally:
                password_file.unlink()
            if init.returncode != 0:
                raise StackError(
                    f"postgres: initdb in {data} failed; every parent folder must be readable by the "
                    f"{user or 'current'} user:\n{init.stderr}"
                )
        self.process.start(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.settings.postgres_port),
                "-c",
                f"listen_addresses={self.settings.postgres_host}",
                "-c",
                f"unix_socket_directories={sockets}",
                "-c",
                "max_connections=200",
            ],
            user=user,
        )

    def healthy(self) -> bool:
        import psycopg2

        conn = psycopg2.connect(self.settings.postgres_dsn("postgres"), connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute("select 1")
                return bool(cur.fetchone() == (1,))
        finally:
            conn.close()

    def after_healthy(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.settings.postgres_dsn("postgres"), connect_timeout=5)
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("select datname from pg_database")
                existing = {row[0] for row in cur.fetchall()}
                for database in self.settings.postgres_databases:
                    if database not in existing:
                        cur.execute(f'create database "{database}"')
        finally:
            conn.close()
        self._grant_reader()

    def _grant_reader(self) -> None:
        """The analysts' SQL endpoint reads the Hive metastore as a role that can only SELECT: its tables now,
        and those the writer (DataNucleus, on first use) creates later. Idempotent; the password follows settings."""
        import psycopg2
        from psycopg2 import sql

        s = self.settings
        reader, writer = sql.Identifier(s.postgres_reader_user), sql.Identifier(s.postgres_user)
        conn = psycopg2.connect(s.postgres_dsn("postgres"), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_roles where rolname = %s", (s.postgres_reader_user,))
                verb = "alter" if cur.fetchone() else "create"
                cur.execute(
                    sql.SQL(
                        "{} role {} login nosuperuser nocreatedb nocreaterole noinherit noreplication password %s"
                    ).format(sql.SQL(verb), reader),
                    (s.secret("postgres_reader_password"),),
                )
                cur.execute(
                    sql.SQL("grant connect on database {} to {}").format(sql.Identifier(s.metastore_database), reader)
                )
        finally:
            conn.close()
        conn = psycopg2.connect(s.postgres_dsn(s.metastore_database), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                # PostgreSQL < 15 lets every role create tables in `public`; say it explicitly for all versions.
                cur.execute("revoke create on schema public from public")
                cur.execute(
                    sql.SQL("revoke temporary on database {} from public").format(sql.Identifier(s.metastore_database))
                )
                cur.execute(sql.SQL("grant usage on schema public to {}").format(reader))
                cur.execute(sql.SQL("grant select on all tables in schema public to {}").format(reader))
                cur.execute(
                    sql.SQL(
                        "alter default privileges for role {} in schema public grant select on tables to {}"
                    ).format(writer, reader)
                )
        finally:
            conn.close()


class SlackReceiver(Service):
    """The local stand-in for Slack's incoming-webhook endpoint (`sluice.stack.slack_receiver`)."""

    name = "slack"
    start_timeout = 30.0

    def ports(self) -> dict[int, str]:
        return {self.settings.slack_receiver_port: "SLUICE_SLACK_RECEIVER_PORT"}

    def address(self) -> str:
        return f"http://127.0.0.1:{self.settings.slack_receiver_port}/messages"

    def launch(self) -> None:
        from sluice.stack.slack_receiver import messages_file

        argv = [sys.executable, "-m", "sluice.stack.slack_receiver", "--port", str(self.settings.slack_receiver_port)]
        self.process.start([*argv, "--file", str(messages_file(self.settings))])

    def healthy(self) -> bool:
        import requests

        return requests.get(self.address(), timeout=2).ok


class JobRunner(Service):
    """Runs Airflow's local Spark jobs as forked children of one warm Python (`sluice.stack.job_runner`)."""

    name = "jobs"
    start_timeout = 90.0  # it imports Great Expectations and the Spark Connect client before it answers

    def ports(self) -> dict[int, str]:
        return {}

    def address(self) -> str:
        from sluice.stack.job_runner import socket_path

        return f"unix://{socket_path(self.settings)}"

    def launch(self) -> None:
        from sluice.stack.job_runner import socket_path

        argv = [sys.executable, "-m", "sluice.stack.job_runner"]
        self.process.start([*argv, "--socket", str(socket_path(self.settings))])

    def healthy(self) -> bool:
        import socket

        from sluice.stack.job_runner import socket_path

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(socket_path(self.settings)))  # the runner drops a connection that sends no request
        return True


SERVICES: tuple[type[Service], ...] = (Kafka, ObjectStore, Postgres, SlackReceiver, JobRunner)
