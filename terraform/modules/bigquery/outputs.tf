output "dataset_id" {
  description = "The dataset, as project:dataset."
  value       = "${var.project_id}:${google_bigquery_dataset.marts.dataset_id}"
}

output "loader_email" {
  description = "The loader service account's email."
  value       = google_service_account.loader.email
}

output "workload_identity_provider" {
  description = "The provider for the publish pods' credential configuration (gcloud iam workload-identity-pools create-cred-config); null until aws_loader_role is set."
  value       = var.aws_loader_role == null ? null : google_iam_workload_identity_pool_provider.aws[0].name
}

output "project_number" {
  description = "The project's number, part of the federation's audience."
  value       = data.google_project.this.number
}
