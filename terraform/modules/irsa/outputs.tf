output "role_arn" {
  description = "Annotate the service account with it: eks.amazonaws.com/role-arn."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "The role's name."
  value       = aws_iam_role.this.name
}
