variable "name" {
  description = "The IAM role's name."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer_url" {
  description = "The EKS cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the service account allowed to assume the role."
  type        = string
}

variable "service_account" {
  description = "The one Kubernetes service account allowed to assume the role."
  type        = string
}

variable "policy_json" {
  description = "The role's permissions, an IAM policy document (JSON)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
