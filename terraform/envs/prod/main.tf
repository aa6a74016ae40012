# Sluice's production platform on AWS, plus the BigQuery warehouse copy on GCP: the lake bucket, MSK, EKS with a
# GPU node group, PostgreSQL for the metadata, one IAM role per component (iam.tf) and the secrets' places
# (secrets.tf). The Helm charts (helm/) deploy the components onto it; outputs.tf lists what they need.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  tags = {
    project     = "sluice"
    environment = "prod"
    managed-by  = "terraform"
  }
  account_id = data.aws_caller_identity.current.account_id
}

# --- the platform's key: Kubernetes secrets, Kafka and PostgreSQL storage, secrets, logs ---------------------------------

data "aws_iam_policy_document" "platform_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account's IAM policies grant its use
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account's IAM policies grant its use
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself; the account's IAM policies grant its use
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsOurLogGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "${var.name}: Kubernetes secrets, Kafka and PostgreSQL storage, Secrets Manager, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.platform_key.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name}-platform"
  target_key_id = aws_kms_key.platform.key_id
}

# --- the parts -------------------------------------------------------------------------------------------------------

module "lake" {
  source = "../../modules/lake_bucket"

  bucket_name               = var.lake_bucket_name
  raw_retention_days        = var.raw_retention_days
  quarantine_retention_days = var.quarantine_retention_days
}

module "eks" {
  source = "../../modules/eks"

  name               = var.name
  kubernetes_version = var.kubernetes_version
  subnet_ids         = var.private_subnet_ids
  kms_key_arn        = aws_kms_key.platform.arn
  general_node_group = var.general_node_group
  gpu_node_group     = var.gpu_node_group
}

module "msk" {
  source = "../../modules/msk"

  name                 = var.name
  vpc_id               = var.vpc_id
  subnet_ids           = var.private_subnet_ids
  broker_count         = length(var.private_subnet_ids)
  broker_instance_type = var.kafka_broker_instance_type
  kms_key_arn          = aws_kms_key.platform.arn

  client_security_groups = {
    eks = module.eks.cluster_security_group_id
  }
}

module "postgres" {
  source = "../../modules/rds"

  name                  = var.name
  vpc_id                = var.vpc_id
  subnet_ids            = var.private_subnet_ids
  instance_class        = var.postgres_instance_class
  backup_retention_days = var.postgres_backup_retention_days
  kms_key_arn           = aws_kms_key.platform.arn

  client_security_groups = {
    eks = module.eks.cluster_security_group_id
  }
}

module "bigquery" {
  source = "../../modules/bigquery"

  project_id = var.gcp_project_id
  location   = var.bigquery_location
  labels     = local.tags

  aws_loader_role = var.bigquery_publisher_service_account == null ? null : {
    account_id = local.account_id
    role_name  = local.role_names["bigquery_publish"]
  }
}
