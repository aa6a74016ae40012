from pathlib import Path

import pytest
from pydantic import ValidationError

from sluice.settings import load_settings


def test_local_profile_runs_everything_on_loopback() -> None:
    settings = load_settings(kafka_port=19092, s3_port=18333)
    assert settings.kafka_servers == "127.0.0.1:19092"
    assert settings.s3_url == "http://127.0.0.1:18333"
    assert settings.secret("s3_access_key") == "sluice"


def test_environment_variables_use_the_sluice_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLUICE_KAFKA_PORT", "29092")
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.setenv("SLUICE_POSTGRES_PASSWORD", "from-env")
    settings = load_settings()
    assert settings.kafka_servers == "127.0.0.1:29092"
    assert settings.home == tmp_path
    assert settings.logs_dir == tmp_path / "logs"
    assert settings.secret("postgres_password") == "from-env"


def test_k8s_profile_names_every_missing_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(profile="k8s", kafka_bootstrap="kafka.prod:9092")
    message = str(caught.value)
    for variable in ("SLUICE_S3_ENDPOINT", "SLUICE_S3_ACCESS_KEY", "SLUICE_S3_SECRET_KEY", "SLUICE_POSTGRES_PASSWORD"):
        assert variable in message
    assert "SLUICE_KAFKA_BOOTSTRAP" not in message


def test_k8s_profile_takes_no_local_defaults() -> None:
    settings = load_settings(
        profile="k8s",
        kafka_bootstrap="b-1.msk:9092,b-2.msk:9092",
        s3_endpoint="https://s3.eu-west-1.amazonaws.com",
        s3_access_key="AKIAEXAMPLE",
        s3_secret_key="prod-secret",
        postgres_password="pg-secret",
    )
    assert settings.kafka_servers == "b-1.msk:9092,b-2.msk:9092"
    assert settings.secret("s3_secret_key") == "prod-secret"


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings(s3_secret_key="do-not-print-me")
    assert "do-not-print-me" not in repr(settings)
    assert settings.secret("s3_secret_key") == "do-not-print-me"


def test_outside_local_airflow_settings_are_required_where_they_are_used() -> None:
    from sluice.settings import MissingSettingError
    from sluice.stack.airflow import admin_password

    settings = load_settings(
        profile="k8s", kafka_bootstrap="k:9092", s3_endpoint="https://s3", s3_access_key="a", s3_secret_key="s",
        postgres_password="p",
    )  # fmt: skip
    with pytest.raises(MissingSettingError, match="SLUICE_AIRFLOW_UI_URL"):
        _ = settings.airflow_url
    with pytest.raises(MissingSettingError, match="SLUICE_AIRFLOW_ADMIN_PASSWORD"):
        admin_password(settings)


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ValidationError, match="profile"):
        load_settings(profile="staging")
