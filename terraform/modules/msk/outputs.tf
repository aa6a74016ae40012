output "cluster_arn" {
  description = "The cluster's ARN: IAM policies derive its topic and group ARNs from it."
  value       = aws_msk_cluster.this.arn
}

output "bootstrap_brokers" {
  description = "Bootstrap servers for IAM-authenticated TLS clients (SLUICE_KAFKA_BOOTSTRAP)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "security_group_id" {
  description = "The brokers' security group."
  value       = aws_security_group.brokers.id
}
