output "lake_bucket" {
  description = "SLUICE_LAKE_BUCKET."
  value       = module.lake.bucket_name
}

output "kafka_bootstrap" {
  description = "SLUICE_KAFKA_BOOTSTRAP: IAM-authenticated TLS listeners."
  value       = module.msk.bootstrap_brokers
}

output "eks_cluster_name" {
  description = "aws eks update-kubeconfig --name <this> (from inside the VPC: the API endpoint is private)."
  value       = module.eks.cluster_name
}

output "postgres_host" {
  description = "SLUICE_POSTGRES_HOST."
  value       = module.postgres.address
}

output "postgres_master_secret_arn" {
  description = "The Secrets Manager secret RDS keeps the master password in (SLUICE_POSTGRES_PASSWORD)."
  value       = module.postgres.master_user_secret_arn
}

output "service_account_role_arns" {
  description = "For the Helm values: each service account's eks.amazonaws.com/role-arn annotation."
  value       = { for component, role in module.irsa : local.roles[component].service_account => role.role_arn }
}

output "secret_arns" {
  description = "Where each secret setting lives in Secrets Manager."
  value       = { for name, setting in local.secrets : setting => aws_secretsmanager_secret.sluice[name].arn }
}

output "bigquery_dataset" {
  description = "The warehouse copy's dataset (project:dataset)."
  value       = module.bigquery.dataset_id
}

output "bigquery_loader" {
  description = "The service account that loads into the dataset."
  value       = module.bigquery.loader_email
}
