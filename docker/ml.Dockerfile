# The GPU training image (settings.ml_image, ghcr.io/sluice-data/sluice-ml): ml/'s locked environment (PyTorch's
# CUDA build, MLflow) on a CUDA base, for the nightly model's pods on the GPU node pool. Build from the repository's
# root:  docker build -f docker/ml.Dockerfile -t ghcr.io/sluice-data/sluice-ml:0.1.0 .

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS python
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /opt/sluice
COPY ml/pyproject.toml ml/uv.lock ml/
RUN uv python install 3.11 && uv sync --frozen --project ml --no-install-project
COPY ml/ ml/
COPY sluice/ sluice/

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
COPY --from=python /opt/python /opt/python
COPY --from=python /opt/venv /opt/venv
COPY --from=python /opt/sluice /opt/sluice
RUN groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --create-home sluice
# The pods run `python -m sluice_ml.nightly <step>` (sluice/orchestration/moderation_dag.py); sluice_ml reads
# Sluice's settings, so both packages are on the path.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/sluice:/opt/sluice/ml \
    SLUICE_HOME=/var/lib/sluice \
    SLUICE_PROFILE=k8s
WORKDIR /opt/sluice
USER 10001
