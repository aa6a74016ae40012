# The warehouse copy on BigQuery: one dataset, encrypted with a customer-managed key, and the service account
# whose load jobs fill it: it may edit this dataset's tables and run jobs in the project, nothing else. Pods on EKS
# reach it through workload identity federation, not a key file.

data "google_project" "this" {
  project_id = var.project_id
}

# --- the key ---------------------------------------------------------------------------------------------------------

resource "google_kms_key_ring" "bigquery" {
  project  = var.project_id
  name     = "${var.dataset_id}-bigquery"
  location = lower(var.location)
}

resource "google_kms_crypto_key" "bigquery" {
  name            = "${var.dataset_id}-bigquery"
  key_ring        = google_kms_key_ring.bigquery.id
  rotation_period = "7776000s" # 90 days
  labels          = var.labels

  lifecycle {
    prevent_destroy = true
  }
}

data "google_bigquery_default_service_account" "this" {
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "bigquery_uses_key" {
  crypto_key_id = google_kms_crypto_key.bigquery.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_bigquery_default_service_account.this.email}"
}

# --- the dataset and its loader --------------------------------------------------------------------------------------

resource "google_bigquery_dataset" "marts" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  friendly_name              = "Sluice marts"
  description                = "The marts of Sluice's lake, loaded by its BigQuery publish jobs (a warehouse copy)."
  location                   = var.location
  delete_contents_on_destroy = false
  labels                     = var.labels

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  depends_on = [google_kms_crypto_key_iam_member.bigquery_uses_key]
}

resource "google_service_account" "loader" {
  project      = var.project_id
  account_id   = var.loader_account_id
  display_name = "Sluice BigQuery loader"
  description  = "Runs Sluice's load jobs into ${var.dataset_id}."
}

resource "google_bigquery_dataset_iam_member" "loader_edits_dataset" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.marts.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.loader.email}"
}

resource "google_project_iam_member" "loader_runs_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.loader.email}"
}

# --- federation: the publish pods' AWS role may act as the loader ----------------------------------------------------

locals {
  aws_role_session = var.aws_loader_role == null ? null : "arn:aws:sts::${var.aws_loader_role.account_id}:assumed-role/${var.aws_loader_role.role_name}"
}

resource "google_iam_workload_identity_pool" "aws" {
  count = var.aws_loader_role == null ? 0 : 1

  project                   = var.project_id
  workload_identity_pool_id = "sluice-aws"
  display_name              = "Sluice on AWS"
}

resource "google_iam_workload_identity_pool_provider" "aws" {
  #checkov:skip=CKV_GCP_125:An AWS provider, not GitHub Actions OIDC; the check fails on any provider without an oidc block. attribute_condition admits one AWS role
  count = var.aws_loader_role == null ? 0 : 1

  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.aws[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "sluice-aws"
  attribute_condition                = "attribute.aws_role == \"${local.aws_role_session}\""

  attribute_mapping = {
    "google.subject"     = "assertion.arn"
    "attribute.aws_role" = "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
  }

  aws {
    account_id = var.aws_loader_role.account_id
  }
}

resource "google_service_account_iam_member" "aws_role_acts_as_loader" {
  count = var.aws_loader_role == null ? 0 : 1

  service_account_id = google_service_account.loader.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.aws[0].name}/attribute.aws_role/${local.aws_role_session}"
}
