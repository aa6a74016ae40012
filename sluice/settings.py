"""The one typed settings object every Sluice component reads.

Values come from environment variables prefixed ``SLUICE_`` (``SLUICE_KAFKA_PORT=19092``).
The ``local`` profile runs every service on loopback and fills in development credentials;
any other profile has no usable defaults for secrets or endpoints, and a missing one fails
at start-up with the name of the variable to set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "SLUICE_"

# Development-only credentials: used by the local profile and nowhere else.
_LOCAL_SECRETS = {
    "s3_access_key": "sluice",
    "s3_secret_key": "sluice-local-secret",
    "postgres_password": "sluice-local-secret",
}
# The analysts' read-only identity: the SQL endpoint (Spark Thrift Server) reads the lake and the catalog with it.
# Outside `local` only the endpoint needs it, so it is required where it is used (`Settings.secret`).
_LOCAL_READER_SECRETS = {
    "s3_reader_access_key": "sluice-reader",
    "s3_reader_secret_key": "sluice-reader-local-secret",
    "postgres_reader_password": "sluice-reader-local-secret",
}


class MissingSettingError(ValueError):
    """A setting that has no default in the chosen profile was not given."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    profile: Literal["local", "k8s"] = "local"
    home: Path = Field(
        default=REPO_ROOT / ".sluice",
        description="State directory of the local stack: data, logs, pid files.",
    )

    # Kafka: a single KRaft broker locally; a managed cluster's bootstrap list in k8s.
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_bootstrap: str | None = None
    kafka_heap: str = "1g"

    # Topics and the ingestion sink (`sluice ingest`).
    topic_partitions: int = 6
    topic_retention_hours: int = 168
    deadletter_topic: str = "sluice.deadletter"
    ingest_group: str = "sluice-ingest"
    ingest_flush_records: int = 200_000
    ingest_flush_bytes: int = 64 * 1024 * 1024
    ingest_flush_seconds: float = 30.0
    ingest_drain_seconds: float = 20.0  # after SIGTERM, finish or abandon (uncommitted: replayed) the flush by then
    ingest_allowed_lateness_minutes: int = 60  # an hour is complete once every active partition is this far past it
    ingest_idle_seconds: float = 10.0  # read to its end this long, a partition stops holding markers back

    # S3-compatible object storage: SeaweedFS locally, Amazon S3 (or GCS's S3 API) in k8s.
    s3_port: int = 8333
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_reader_access_key: SecretStr | None = None  # may list and read the lake, nothing else
    s3_reader_secret_key: SecretStr | None = None
    lake_bucket: str = "lake"

    # PostgreSQL: metadata database of Airflow and of the Hive metastore.
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5433
    postgres_user: str = "sluice"
    postgres_password: SecretStr | None = None
    postgres_reader_user: str = "sluice_reader"  # may read the metastore's tables, nothing else
    postgres_reader_password: SecretStr | None = None
    postgres_database: str = "sluice"
    postgres_databases: tuple[str, ...] = ("sluice", "airflow", "metastore", "superset", "mlflow")
    metastore_database: str = "metastore"

    # Spark. Locally jobs are clients of one warm Spark Connect server (`spark_remote`); an empty SLUICE_SPARK_REMOTE
    # gives each job a classic in-process session (its own JVM), as inside a SparkApplication in k8s.
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"  # the Connect server's (locally) or each job driver's heap
    spark_shuffle_partitions: int = 8
    spark_connect_port: int = 15002
    spark_remote: str | None = None  # sc://host:port of a Spark Connect server; local default: the stack's
    spark_jars_dir: Path | None = None  # jars a classic session adds; local default: build/jars/spark (make setup)
    # The analysts' SQL endpoint: Spark Thrift Server (HiveServer2 protocol), read-only, its own JVM.
    spark_thrift_port: int = 10000
    spark_thrift_memory: str = "1g"

    # Superset: the analysts' BI, on the SQL endpoint; provisioned by `sluice superset sync` from marts/ and superset/.
    superset_port: int = 8088
    superset_ui_url: str | None = None  # the UI's address in links; the local server by default
    superset_secret_key: SecretStr | None = None  # signs sessions; local: generated on first start and kept
    superset_admin_password: SecretStr | None = None  # local: generated on first start and printed
    superset_analyst_password: SecretStr | None = None  # the local `analyst` user's; generated like the admin's
    superset_workers: int = 2  # gunicorn worker processes, each with threads for a dashboard's parallel charts
    superset_metadata_database: str = "superset"

    # The moderation model (ml/): MLflow's tracking server and registry (PostgreSQL; artifacts in the lake's models/).
    mlflow_port: int = 5000
    mlflow_tracking_url: str | None = None  # the tracking server as clients reach it; the local server by default
    mlflow_database: str = "mlflow"
    ml_model_name: str = "listing-moderation"  # the registered model; aliases `champion` and `challenger`
    ml_promotion_margin: float = 0.01  # a candidate replaces the champion only if its macro-F1 is this much higher
    # The transformer's size: `full` on a GPU, `tiny` (a few CPU steps) otherwise; `auto` picks by what is present.
    ml_transformer_profile: Literal["auto", "tiny", "full"] = "auto"

    # BigQuery, the marts' warehouse copy (`sluice.serving.bigquery`): each published day of the chosen marts replaces
    # that day's partition of a day-partitioned table. The dataset and the loader's identity are Terraform's
    # (terraform/modules/bigquery); credentials are Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS).
    bigquery_project: str | None = None  # unset or empty: publishing is off (its DAG stays paused and says so)
    bigquery_dataset: str = "sluice_marts"
    bigquery_location: str = "EU"  # the dataset's, and so every job's; terraform's default too
    bigquery_marts: tuple[str, ...] = ("mart_gmv_daily", "mart_marketplace_kpis", "mart_active_users")
    bigquery_max_query_bytes: int = 10 * 1024**3  # the cost guard: a query whose dry run scans more is refused
    bigquery_api_endpoint: str | None = None  # a stand-in for the API in tests (anonymous credentials); never in prod

    # The speed track (`sluice speed`): Structured Streaming from Kafka into the lake's speed zone, its own JVM.
    speed_watermark_minutes: int = 10  # events this much older than the newest seen are left to the batch track
    speed_trigger_seconds: float = 1.0  # a micro-batch this often
    speed_lookback_hours: int = 24  # a first start (no checkpoint) reads the topics from this long ago
    speed_retention_hours: int = 48  # hours older than this leave the speed zone even if no batch day replaced them
    speed_driver_memory: str = "1g"

    # Marts: the catalog schema their tables are registered in; the models' SQL lives in marts/.
    marts_schema: str = "sluice"

    # Airflow: scheduler, API server (UI), DAG processor and triggerer on LocalExecutor; metadata in PostgreSQL.
    airflow_port: int = 8080
    airflow_ui_url: str | None = None  # the UI's address in links sent to Slack; the local API server by default
    airflow_admin_password: SecretStr | None = None  # local: generated on first start and printed
    airflow_parallelism: int = 2  # task processes at once; each local Spark job wants most of a core
    # Local stand-in for Slack's incoming-webhook endpoint; messages land in <home>/slack/messages.jsonl.
    slack_receiver_port: int = 8099
    airflow_retry_delay_seconds: int = 300  # before a crashed task's next try; a failed quality gate is not retried
    raw_wait_hours: float = 6.0  # how long a marts run waits for the raw zone's hours before it fails and alerts
    # Ingestion health (the hourly health DAG alerts past these).
    health_max_lag: int = 100_000  # records per topic not yet committed by the sink
    health_max_dead_letters_per_hour: int = 1_000
    health_max_marker_delay_hours: float = 3.0  # an hour this long over without its completeness marker

    # Maintenance (the daily maintenance DAG): raw-zone compaction and retention.
    raw_compact_after_days: int = 1  # a day's raw hours become one object each once this many days have passed
    raw_retention_days: int = 400  # raw days kept: the batch track rebuilds marts from them (a year and a bit)
    quarantine_retention_days: int = 30  # rows refused by quality gates, kept for investigation

    # Kubernetes (profile k8s): where the marts' SparkApplications run (kubeflow spark-operator).
    k8s_namespace: str = "sluice"
    k8s_settings_config_map: str = "sluice-settings"  # SLUICE_* settings for jobs, from the Helm chart
    k8s_settings_secret: str = "sluice-secrets"  # SLUICE_* secrets for jobs
    k8s_spark_service_account: str = "sluice-spark"  # the mart builds' drivers and executors
    k8s_speed_track_service_account: str = "sluice-speed-track"  # its IAM role writes speed/, not the marts' zones
    k8s_spark_executors: int = 2
    k8s_spark_executor_cores: int = 2
    k8s_spark_executor_memory: str = "4g"
    spark_image: str = "ghcr.io/sluice-data/sluice-spark:0.1.0"
    spark_version: str = "4.2.0"
    # The nightly model's training pods: ml/'s environment as an image, on the GPU node pool (and only there).
    ml_image: str = "ghcr.io/sluice-data/sluice-ml:0.1.0"
    k8s_gpu_node_selector: dict[str, str] = {"sluice.dev/pool": "gpu"}
    k8s_gpu_toleration_key: str = "nvidia.com/gpu"  # the GPU pool's taint, tolerated by training pods only

    @model_validator(mode="after")
    def _fill_profile_defaults(self) -> Settings:
        if self.profile == "local":
            object.__setattr__(self, "kafka_bootstrap", self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}")
            object.__setattr__(self, "s3_endpoint", self.s3_endpoint or f"http://127.0.0.1:{self.s3_port}")
            object.__setattr__(self, "airflow_ui_url", self.airflow_ui_url or f"http://127.0.0.1:{self.airflow_port}")
            object.__setattr__(
                self, "mlflow_tracking_url", self.mlflow_tracking_url or f"http://127.0.0.1:{self.mlflow_port}"
            )
            object.__setattr__(
                self, "superset_ui_url", self.superset_ui_url or f"http://127.0.0.1:{self.superset_port}"
            )
            if self.spark_remote is None:
                object.__setattr__(self, "spark_remote", f"sc://127.0.0.1:{self.spark_connect_port}")
            object.__setattr__(self, "spark_jars_dir", self.spark_jars_dir or REPO_ROOT / "build" / "jars" / "spark")
            for name, value in (_LOCAL_SECRETS | _LOCAL_READER_SECRETS).items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, SecretStr(value))
            return self
        missing = [name for name in ("kafka_bootstrap", "s3_endpoint", *_LOCAL_SECRETS) if getattr(self, name) is None]
        if missing:
            names = ", ".join(ENV_PREFIX + name.upper() for name in missing)
            raise MissingSettingError(
                f"profile {self.profile!r} has no defaults for endpoints or secrets; set {names} "
                f"(or use SLUICE_PROFILE=local for the loopback development stack)"
            )
        return self

    # The validator guarantees these are set; the properties give callers plain types.
    @property
    def kafka_servers(self) -> str:
        assert self.kafka_bootstrap is not None
        return self.kafka_bootstrap

    @property
    def s3_url(self) -> str:
        assert self.s3_endpoint is not None
        return self.s3_endpoint

    def secret(
        self,
        name: Literal[
            "s3_access_key",
            "s3_secret_key",
            "postgres_password",
            "s3_reader_access_key",
            "s3_reader_secret_key",
            "postgres_reader_password",
        ],
    ) -> str:
        value = getattr(self, name)
        if value is None:  # only the reader's secrets can be unset here; the validator checked the others
            raise MissingSettingError(f"profile {self.profile!r} needs {ENV_PREFIX}{name.upper()} (no default)")
        return str(value.get_secret_value())

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lake_uri(self) -> str:
        """The lake's root as Spark (s3a) addresses it."""
        return f"s3a://{self.lake_bucket}"

    @property
    def airflow_url(self) -> str:
        """The Airflow UI and REST API, as users reach it (links in alerts)."""
        if self.airflow_ui_url is None:  # only Airflow's own components need it, so it is checked here
            raise MissingSettingError(f"profile {self.profile!r} needs {ENV_PREFIX}AIRFLOW_UI_URL (the UI address)")
        return self.airflow_ui_url.rstrip("/")

    @property
    def superset_url(self) -> str:
        """Superset's UI and REST API as users reach it."""
        if self.superset_ui_url is None:
            raise MissingSettingError(f"profile {self.profile!r} needs {ENV_PREFIX}SUPERSET_UI_URL (the UI address)")
        return self.superset_ui_url.rstrip("/")

    @property
    def mlflow_url(self) -> str:
        """MLflow's tracking server, UI and REST API."""
        if self.mlflow_tracking_url is None:
            raise MissingSettingError(f"profile {self.profile!r} needs {ENV_PREFIX}MLFLOW_TRACKING_URL (the server)")
        return self.mlflow_tracking_url.rstrip("/")

    def postgres_dsn(self, database: str | None = None, *, reader: bool = False) -> str:
        """The jobs' connection string, or (reader=True) the SQL endpoint's read-only role's."""
        user, password = (
            (self.postgres_reader_user, self.secret("postgres_reader_password"))
            if reader
            else (self.postgres_user, self.secret("postgres_password"))
        )
        return (
            f"postgresql://{user}:{password}@{self.postgres_host}:{self.postgres_port}/"
            f"{database or self.postgres_database}"
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (tests use them)."""
    return Settings(**overrides)  # type: ignore[arg-type]
