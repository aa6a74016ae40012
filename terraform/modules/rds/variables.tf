variable "name" {
  description = "The instance's identifier."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version; minor upgrades are applied in the maintenance window."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "The instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "allocated_storage_gib" {
  description = "Initial storage, GiB; it grows by itself up to max_allocated_storage_gib."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gib" {
  description = "Storage autoscaling's ceiling, GiB."
  type        = number
  default     = 500
}

variable "master_username" {
  description = "The master user's name. Its password is generated and kept by Secrets Manager, never by Terraform."
  type        = string
  default     = "sluice"
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the instance, in at least two availability zones."
  type        = list(string)
}

variable "vpc_id" {
  description = "The VPC of the subnets."
  type        = string
}

variable "client_security_groups" {
  description = "Security groups whose members may connect on 5432, by a name known at plan time."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Key that encrypts storage, backups, Performance Insights and the master user's secret."
  type        = string
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
