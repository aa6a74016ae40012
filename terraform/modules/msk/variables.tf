variable "name" {
  description = "The cluster's name."
  type        = string
}

variable "kafka_version" {
  description = "Apache Kafka version of the brokers (Sluice's clients speak to any broker from 3.x on)."
  type        = string
  default     = "3.9.x"
}

variable "broker_count" {
  description = "Brokers in the cluster: a multiple of the number of subnets (one availability zone each)."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 3
    error_message = "broker_count must be at least 3: topics are replicated 3 times with min.insync.replicas = 2."
  }
}

variable "broker_instance_type" {
  description = "The brokers' instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "broker_volume_gib" {
  description = "EBS storage per broker, GiB: Kafka keeps Sluice's topic_retention_hours of events."
  type        = number
  default     = 500
}

variable "subnet_ids" {
  description = "Private subnets for the brokers, one per availability zone."
  type        = list(string)
}

variable "vpc_id" {
  description = "The VPC of the subnets."
  type        = string
}

variable "client_security_groups" {
  description = "Security groups whose members may reach the brokers on the IAM-authenticated TLS port (9098), by a name known at plan time."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Key that encrypts the brokers' storage and their log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the brokers' logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
