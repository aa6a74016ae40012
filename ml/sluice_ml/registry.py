"""The model registry: MLflow's, with the aliases `champion` (what scores listings) and `challenger` (the newest
candidate). The only module of the package that imports mlflow; training and prediction run without it.

Every promotion tags the new champion with the version it replaced, so `rollback` can move the alias back one
step and record who did it and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from sluice_ml.data import LABELS

CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "listing-moderation"
PREVIOUS_CHAMPION_TAG = "previous_champion"  # on a champion: the version it replaced


def connect(tracking_url: str) -> MlflowClient:
    """The registry's client; also points MLflow's module-level API (runs, downloads) at the same server."""
    mlflow.set_tracking_uri(tracking_url)
    return MlflowClient(tracking_url)


def code_version() -> str:
    """The repository's commit; images carry it as SLUICE_CODE_VERSION where there is no .git."""
    if os.environ.get("SLUICE_CODE_VERSION"):
        return os.environ["SLUICE_CODE_VERSION"]
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def flat_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics of one held-out evaluation: macro-F1, accuracy and per-class precision, recall and F1."""
    metrics = {"macro_f1": float(evaluation["macro_f1"]), "accuracy": float(evaluation["accuracy"])}
    for label in LABELS:
        for measure in ("precision", "recall", "f1"):
            metrics[f"{label}_{measure}"] = float(evaluation["per_class"][label][measure])
    return metrics


def log_candidate(
    name: str, model_dir: Path, evaluation: dict[str, Any], data: dict[str, Any], ds: str, profile: str
) -> str:
    """One MLflow run for one candidate: parameters, data range, held-out metrics, confusion matrix, code version
    and the model's files; returns the run id. Call `connect` first."""
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"{name} {ds}") as run:
        mlflow.set_tags({"candidate": name, "training_ds": ds, "mlflow.source.git.commit": code_version()})
        params = {f"model.{key}": value for key, value in evaluation.get("params", {}).items()}
        mlflow.log_params(
            {
                **params,
                "candidate": name,
                "profile": profile,
                "training_ds": ds,
                "train_rows": data["train_rows"],
                "holdout_rows": data["holdout_rows"],
                "train_created": " .. ".join(map(str, data["train_created"])),
                "holdout_created": " .. ".join(map(str, data["holdout_created"])),
            }
        )
        mlflow.log_metrics(flat_metrics(evaluation))
        mlflow.log_dict(
            {"labels": list(LABELS), "rows_true_columns_predicted": evaluation["confusion_matrix"]},
            "confusion_matrix.json",
        )
        mlflow.log_dict(evaluation, "evaluation.json")
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        return str(run.info.run_id)


def register(client: MlflowClient, model_name: str, run_id: str, tags: dict[str, str]) -> str:
    """A new version of the registered model from a run's `model` folder, alias `challenger`; returns the version."""
    try:
        client.create_registered_model(model_name, description="Listing moderation: normal, spam, scam, ...")
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(model_name, f"runs:/{run_id}/model", run_id=run_id, tags=tags)
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return str(version.version)


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def promote(client: MlflowClient, model_name: str, version: str, reason: str) -> None:
    previous = alias_version(client, model_name, CHAMPION)
    if previous is not None:
        client.set_model_version_tag(model_name, version, PREVIOUS_CHAMPION_TAG, previous)
    client.set_model_version_tag(model_name, version, "promoted", f"{_now()} {reason}")
    client.set_registered_model_alias(model_name, CHAMPION, version)


@dataclass(frozen=True)
class Rollback:
    model_name: str
    from_version: str
    to_version: str


def rollback(client: MlflowClient, model_name: str, who: str, why: str) -> Rollback:
    """Move `champion` back to the version the current champion replaced; the demoted version records who/why."""
    current = alias_version(client, model_name, CHAMPION)
    if current is None:
        raise ValueError(f"{model_name} has no champion to roll back; the nightly DAG sets one on its first run")
    previous = client.get_model_version(model_name, current).tags.get(PREVIOUS_CHAMPION_TAG)
    if previous is None:
        raise ValueError(
            f"{model_name} version {current} is the first champion: there is no earlier one to roll back to"
        )
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    record = json.dumps({"at": _now(), "by": who, "why": why, "to_version": previous})
    client.set_model_version_tag(model_name, current, "rolled_back", record)
    return Rollback(model_name, current, previous)


def resolve(client: MlflowClient, model_name: str, reference: str) -> str:
    """A version number from `NAME@ALIAS`, `NAME@VERSION`, `ALIAS` or `VERSION` (the name defaults to ours)."""
    name, _, ref = reference.rpartition("@")
    name = name or model_name
    if ref.isdigit():
        client.get_model_version(name, ref)  # fails clearly when the version does not exist
        return ref
    version = alias_version(client, name, ref)
    if version is None:
        raise ValueError(f"{name} has no alias {ref!r}; see `sluice ml models` or the MLflow UI")
    return version


def download(model_name: str, version: str, into: Path | None = None) -> Path:
    """The version's model folder, downloaded through the tracking server."""
    target = into or Path(tempfile.mkdtemp(prefix=f"{model_name}-v{version}-"))
    return Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=str(target)))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
