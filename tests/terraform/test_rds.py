"""PostgreSQL for Airflow, the metastore, Superset and MLflow: private, encrypted, backed up, and its password never
passes through Terraform."""

from __future__ import annotations

from tests.terraform.config import module, prod, ref

RDS = module("rds")


def test_the_instance_is_encrypted_and_private() -> None:
    db = RDS.resource("aws_db_instance", "this")
    assert db["storage_encrypted"] is True
    assert ref(db["kms_key_id"]) == "var.kms_key_arn"
    assert db["publicly_accessible"] is False
    assert "cidr_ipv4" not in str(RDS.resources("aws_vpc_security_group_ingress_rule"))
    assert prod().module("postgres")["client_security_groups"] == {"eks": "${module.eks.cluster_security_group_id}"}


def test_connections_must_use_tls() -> None:
    parameters = {p["name"]: p["value"] for p in RDS.resource("aws_db_parameter_group", "this")["parameter"]}
    assert parameters["rds.force_ssl"] == "1"


def test_backups_are_kept_at_least_a_week() -> None:
    db = RDS.resource("aws_db_instance", "this")
    assert ref(db["backup_retention_period"]) == "var.backup_retention_days"
    assert RDS.variable("backup_retention_days")["default"] >= 7
    assert ref(prod().module("postgres")["backup_retention_days"]) == "var.postgres_backup_retention_days"
    assert prod().variable("postgres_backup_retention_days")["default"] >= 7
    assert db["deletion_protection"] is True
    assert db["skip_final_snapshot"] is False


def test_the_master_password_is_managed_by_secrets_manager() -> None:
    db = RDS.resource("aws_db_instance", "this")
    assert db["manage_master_user_password"] is True
    assert "password" not in db
    assert ref(db["master_user_secret_kms_key_id"]) == "var.kms_key_arn"


def test_one_instance_serves_the_platforms_metadata() -> None:
    assert prod().module("postgres")["source"] == "../../modules/rds"
    assert RDS.resource("aws_db_instance", "this")["engine"] == "postgres"
