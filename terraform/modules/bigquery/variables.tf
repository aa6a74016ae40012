variable "project_id" {
  description = "The GCP project of the dataset, the loader and its jobs."
  type        = string
}

variable "location" {
  description = "The dataset's location: a multi-region (US, EU) or a region (europe-west1); its key lives there too."
  type        = string
  default     = "EU"
}

variable "dataset_id" {
  description = "The warehouse copy's dataset: the marts as BigQuery tables."
  type        = string
  default     = "sluice_marts"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,1024}$", var.dataset_id))
    error_message = "dataset_id may hold letters, digits and underscores only."
  }
}

variable "loader_account_id" {
  description = "Account id of the service account that runs load jobs into the dataset."
  type        = string
  default     = "sluice-bigquery-loader"
}

variable "aws_loader_role" {
  description = "The AWS IAM role (IRSA) of the pods that publish to BigQuery, allowed to impersonate the loader through workload identity federation (no key file). null: nobody outside GCP may."
  type = object({
    account_id = string
    role_name  = string
  })
  default = null
}

variable "labels" {
  description = "Labels for every resource of the module that takes them."
  type        = map(string)
  default     = {}
}
