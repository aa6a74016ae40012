output "cluster_name" {
  description = "The cluster's name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The private API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_security_group_id" {
  description = "The security group EKS attaches to the control plane and every managed node: pods reach MSK and RDS from it."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "The IAM OIDC provider of the cluster's service-account tokens (IRSA trust)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer_url" {
  description = "The issuer of the cluster's service-account tokens."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}
