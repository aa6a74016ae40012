variable "bucket_name" {
  description = "The lake bucket's name (Sluice's SLUICE_LAKE_BUCKET). Its access logs go to <name>-access-logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,47}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-49 characters of a-z, 0-9, '.' and '-' (room is left for the -access-logs suffix)."
  }
}

variable "raw_retention_days" {
  description = "Days before an object under raw/ expires: Sluice's raw_retention_days (the maintenance DAG deletes older days first; this is the backstop)."
  type        = number

  validation {
    condition     = var.raw_retention_days >= 1
    error_message = "raw_retention_days must be at least 1."
  }
}

variable "quarantine_retention_days" {
  description = "Days before an object under quarantine/ expires: Sluice's quarantine_retention_days."
  type        = number

  validation {
    condition     = var.quarantine_retention_days >= 1
    error_message = "quarantine_retention_days must be at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object's previous version is kept (versioning's undo window)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days the bucket's server access logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
