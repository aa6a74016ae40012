# --- where ----------------------------------------------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "sluice-prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "aws_region" {
  description = "The AWS region of the lake, Kafka, Kubernetes and PostgreSQL (Sluice's SLUICE_S3_REGION)."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "The VPC everything runs in; the network is the account's, not this composition's."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets, one per availability zone (three for MSK's three brokers), with a route to the internet through NAT for image pulls."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 3
    error_message = "private_subnet_ids must list three subnets, one per availability zone: MSK puts a broker in each."
  }
}

variable "gcp_project_id" {
  description = "The GCP project of the BigQuery warehouse copy."
  type        = string
}

variable "gcp_region" {
  description = "The GCP provider's default region."
  type        = string
  default     = "europe-west1"
}

variable "bigquery_location" {
  description = "The BigQuery dataset's location."
  type        = string
  default     = "EU"
}

# --- the lake ---------------------------------------------------------------------------------------------------------

variable "lake_bucket_name" {
  description = "The lake bucket's globally unique name (SLUICE_LAKE_BUCKET)."
  type        = string
}

variable "raw_retention_days" {
  description = "Days raw/ keeps an object: Sluice's raw_retention_days (sluice/settings.py). Change both together."
  type        = number
  default     = 400
}

variable "quarantine_retention_days" {
  description = "Days quarantine/ keeps an object: Sluice's quarantine_retention_days (sluice/settings.py). Change both together."
  type        = number
  default     = 30
}

# --- Kafka ------------------------------------------------------------------------------------------------------------

variable "ingest_consumer_group" {
  description = "The sink's consumer group: Sluice's ingest_group."
  type        = string
  default     = "sluice-ingest"
}

variable "deadletter_topic" {
  description = "The topic the sink writes refused records to: Sluice's deadletter_topic."
  type        = string
  default     = "sluice.deadletter"
}

variable "kafka_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

# --- Kubernetes -------------------------------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = "1.34"
}

variable "kubernetes_namespace" {
  description = "The namespace of Sluice's Helm release (Sluice's k8s_namespace)."
  type        = string
  default     = "sluice"
}

variable "service_accounts" {
  description = "Each component's Kubernetes service account, as the Helm chart names them; each gets its own IAM role."
  type        = map(string)
  default = {
    sink         = "sluice-sink"
    spark_jobs   = "sluice-spark" # Sluice's k8s_spark_service_account
    sql_endpoint = "sluice-sql-endpoint"
    speed_track  = "sluice-speed-track"
    training     = "sluice-training"
    airflow      = "sluice-airflow"
    mlflow       = "sluice-mlflow"
  }

  validation {
    condition     = toset(keys(var.service_accounts)) == toset(["sink", "spark_jobs", "sql_endpoint", "speed_track", "training", "airflow", "mlflow"])
    error_message = "service_accounts names exactly the components sink, spark_jobs, sql_endpoint, speed_track, training, airflow and mlflow."
  }
}

variable "general_node_group" {
  description = "The general node group: everything but training."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    labels         = map(string)
  })
  default = {
    instance_types = ["m7i.2xlarge"]
    min_size       = 3
    desired_size   = 3
    max_size       = 10
    labels         = { "sluice.dev/pool" = "general" }
  }
}

variable "gpu_node_group" {
  description = "The GPU node group for the nightly model's training pods: its labels are Sluice's k8s_gpu_node_selector, its taint key Sluice's k8s_gpu_toleration_key. Scales from zero."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    labels         = map(string)
    taint_key      = string
  })
  default = {
    instance_types = ["g6.xlarge", "g5.xlarge"]
    min_size       = 0
    desired_size   = 0
    max_size       = 2
    labels         = { "sluice.dev/pool" = "gpu" }
    taint_key      = "nvidia.com/gpu"
  }
}

# --- PostgreSQL -------------------------------------------------------------------------------------------------------

variable "postgres_instance_class" {
  description = "RDS instance class of the metadata database."
  type        = string
  default     = "db.m7g.large"
}

variable "postgres_backup_retention_days" {
  description = "Days of automated backups of the metadata database."
  type        = number
  default     = 14

  validation {
    condition     = var.postgres_backup_retention_days >= 7
    error_message = "postgres_backup_retention_days must be at least 7."
  }
}

# --- what lands later: null until its part of Sluice exists ------------------------------------------------------------

variable "bigquery_publisher_service_account" {
  description = "Service account of the BigQuery publish job (sluice/serving/, not yet landed). null: no IRSA role and no federation to the loader; set it (e.g. \"sluice-bigquery-publish\") when the job and its chart entry land."
  type        = string
  default     = null
}

variable "secrets_sync_service_account" {
  description = "Service account of whatever copies the Secrets Manager secrets into the chart's sluice-secrets Secret (e.g. External Secrets, not yet in the chart). null: no role; set it when the chart lands."
  type        = string
  default     = null
}
