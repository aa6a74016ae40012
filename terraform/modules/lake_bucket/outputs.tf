output "bucket_name" {
  description = "The lake bucket (SLUICE_LAKE_BUCKET)."
  value       = aws_s3_bucket.lake.id
}

output "bucket_arn" {
  description = "The lake bucket's ARN; IAM policies append /<zone>/* to it."
  value       = aws_s3_bucket.lake.arn
}

output "kms_key_arn" {
  description = "The key that encrypts the lake's objects: readers need kms:Decrypt on it, writers kms:GenerateDataKey too."
  value       = aws_kms_key.lake.arn
}

output "logs_bucket_name" {
  description = "The bucket that receives the lake's server access logs."
  value       = aws_s3_bucket.logs.id
}
