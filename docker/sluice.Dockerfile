# The Sluice image (settings.spark_image, ghcr.io/sluice-data/sluice-spark): this repository installed, with Spark and
# its extra jars. It runs the SparkApplications' drivers and executors (the spark-operator starts them through the
# Spark image's /opt/entrypoint.sh), the ingestion sink, the SQL endpoint and Airflow's tasks. Build from the
# repository's root:  docker build -f docker/sluice.Dockerfile -t ghcr.io/sluice-data/sluice-spark:0.1.0 .

# Spark's extra jars (hadoop-aws, the Kafka source), resolved from Maven Central by the repository's own pom.
FROM maven:3.9.11-eclipse-temurin-17 AS jars
WORKDIR /src
COPY jars/spark/pom.xml jars/spark/pom.xml
RUN mvn --batch-mode --quiet -f jars/spark/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=/jars

# The Python environment, from the lock file: Python 3.11 (Sluice's) managed by uv, dependencies first for caching.
FROM apache/spark:4.2.0-scala2.13-java17-python3-ubuntu AS python
# A build stage only, discarded: installing into /opt needs root here; the final image runs as 10001.
# hadolint ignore=DL3002
USER 0
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /opt/sluice
COPY pyproject.toml uv.lock ./
RUN uv python install 3.11 && uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev

FROM apache/spark:4.2.0-scala2.13-java17-python3-ubuntu
USER 0
# Spark's jars in the image win over the wheel's; the extra ones go beside them, where spark-submit finds them.
COPY --from=jars /jars/ /opt/spark/jars/
COPY --from=python /opt/python /opt/python
COPY --from=python /opt/venv /opt/venv
COPY --from=python /opt/sluice /opt/sluice
RUN groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --create-home sluice
ENV PATH=/opt/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    PYTHONPATH=/opt/sluice \
    SLUICE_HOME=/var/lib/sluice \
    SLUICE_PROFILE=k8s
WORKDIR /opt/sluice
USER 10001
