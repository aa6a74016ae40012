variable "name" {
  description = "The cluster's name."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and node groups."
  type        = string
  default     = "1.34"

  validation {
    condition     = can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version is a minor version such as 1.34."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the control plane's network interfaces and of the nodes."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "kms_key_arn" {
  description = "Key that envelope-encrypts Kubernetes secrets and the control plane's log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the control plane's logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "general_node_group" {
  description = "The general pool: the sink, Spark drivers and executors, Airflow, the SQL endpoint, Superset, MLflow."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    labels         = map(string)
  })
}

variable "gpu_node_group" {
  description = "The GPU pool for the nightly model's training pods only: tainted, so nothing else lands there."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    labels         = map(string)
    taint_key      = string
  })

  validation {
    condition     = alltrue([for type in var.gpu_node_group.instance_types : can(regex("^(g[4-6][a-z]*|p[3-5][a-z]*)\\.", type))])
    error_message = "gpu_node_group.instance_types must be NVIDIA GPU instance types (g4-g6, p3-p5 families)."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
