"""BigQuery: the warehouse copy's dataset and the one service account allowed to load into it."""

from __future__ import annotations

from tests.terraform.config import module, prod, ref

BQ = module("bigquery")
LOADER = "serviceAccount:${google_service_account.loader.email}"


def test_the_dataset_exists_and_is_encrypted_with_its_own_key() -> None:
    dataset = BQ.resource("google_bigquery_dataset", "marts")
    assert ref(dataset["default_encryption_configuration"][0]["kms_key_name"]) == "google_kms_crypto_key.bigquery.id"
    assert dataset["delete_contents_on_destroy"] is False
    assert prod().module("bigquery")["source"] == "../../modules/bigquery"


def test_the_loader_may_edit_this_dataset_only() -> None:
    (grant,) = BQ.resources("google_bigquery_dataset_iam_member").values()
    assert grant["role"] == "roles/bigquery.dataEditor"
    assert ref(grant["dataset_id"]) == "google_bigquery_dataset.marts.dataset_id"
    assert grant["member"] == LOADER


def test_the_loader_may_run_jobs_in_the_project_and_nothing_more() -> None:
    (grant,) = BQ.resources("google_project_iam_member").values()
    assert (grant["role"], grant["member"]) == ("roles/bigquery.jobUser", LOADER)


def test_no_key_file_exists_for_the_loader() -> None:
    assert not BQ.resources("google_service_account_key")
    (federation,) = BQ.resources("google_service_account_iam_member").values()
    assert federation["role"] == "roles/iam.workloadIdentityUser"
    assert federation["member"].startswith("principalSet://iam.googleapis.com/")
    provider = BQ.resource("google_iam_workload_identity_pool_provider", "aws")
    assert provider["attribute_condition"], "only the publish job's AWS role may act as the loader"
