terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    google = {
      source  = "hashicorp/google"
      version = ">= 7.0, < 8.0"
    }
  }

  # State in S3 with S3-native locking; bucket, key and region come from `tofu init -backend-config=...`
  # (terraform/README.md), so no account detail is committed.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
