output "endpoint" {
  description = "host:port of the instance (SLUICE_POSTGRES_HOST and _PORT)."
  value       = aws_db_instance.this.endpoint
}

output "address" {
  description = "The instance's host name."
  value       = aws_db_instance.this.address
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret that holds the master user's generated password."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "The instance's security group."
  value       = aws_security_group.this.id
}
