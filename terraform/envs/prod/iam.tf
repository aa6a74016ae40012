# One IAM role per component, trusted only by its Kubernetes service account (modules/irsa). Each policy names the
# lake zones (sluice/lake.py) its component reads and writes; analysts' paths (the SQL endpoint) only read.
# Every component may list the bucket (Hadoop's S3A lists to find files) and use the lake's key.

locals {
  lake = module.lake.bucket_arn

  # MSK resource ARNs: arn:aws:kafka:<region>:<account>:{cluster,topic,group}/<cluster name>/<cluster uuid>[/<name>]
  kafka_cluster = module.msk.cluster_arn
  kafka_topics  = replace(module.msk.cluster_arn, ":cluster/", ":topic/")
  kafka_groups  = replace(module.msk.cluster_arn, ":cluster/", ":group/")

  policies = {
    sink         = data.aws_iam_policy_document.sink.json
    spark_jobs   = data.aws_iam_policy_document.spark_jobs.json
    sql_endpoint = data.aws_iam_policy_document.sql_endpoint.json
    speed_track  = data.aws_iam_policy_document.speed_track.json
    training     = data.aws_iam_policy_document.training.json
    airflow      = data.aws_iam_policy_document.airflow.json
    mlflow       = data.aws_iam_policy_document.mlflow.json
  }

  # Parts of Sluice that have not landed yet get a role once their service account is set (variables.tf).
  later = {
    bigquery_publish = { service_account = var.bigquery_publisher_service_account, policy = data.aws_iam_policy_document.bigquery_publish.json }
    secrets_sync     = { service_account = var.secrets_sync_service_account, policy = data.aws_iam_policy_document.secrets_sync.json }
  }

  roles = merge(
    { for component, account in var.service_accounts : component => { service_account = account, policy = local.policies[component] } },
    { for component, role in local.later : component => role if role.service_account != null },
  )
  role_names = { for component in concat(keys(var.service_accounts), keys(local.later)) : component => "${var.name}-${replace(component, "_", "-")}" }
}

module "irsa" {
  source   = "../../modules/irsa"
  for_each = local.roles

  name              = local.role_names[each.key]
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer_url   = module.eks.oidc_issuer_url
  namespace         = var.kubernetes_namespace
  service_account   = each.value.service_account
  policy_json       = each.value.policy
}

# --- the ingestion sink: raw/ and its own state; consumes the event topics, produces dead letters --------------------

data "aws_iam_policy_document" "sink" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadOwnZones"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/raw/*", "${local.lake}/_state/ingest/*"]
  }

  statement {
    sid       = "WriteOwnZones"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake}/raw/*", "${local.lake}/_state/ingest/*"]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }

  statement {
    sid       = "ConnectToKafka"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [local.kafka_cluster]
  }

  statement {
    sid       = "ConsumeEventTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${local.kafka_topics}/*"]
  }

  statement {
    sid       = "ProduceDeadLetters"
    actions   = ["kafka-cluster:WriteData"]
    resources = ["${local.kafka_topics}/${var.deadletter_topic}"]
  }

  statement {
    sid       = "CommitOffsets"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${local.kafka_groups}/${var.ingest_consumer_group}"]
  }
}

# --- Spark jobs (the marts' builds): read raw/, write the models' layers and what a build leaves behind ---------------

data "aws_iam_policy_document" "spark_jobs" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid     = "ReadInputsAndOwnZones"
    actions = ["s3:GetObject"]
    resources = [
      "${local.lake}/raw/*",
      "${local.lake}/staging/*",
      "${local.lake}/core/*",
      "${local.lake}/marts/*",
      "${local.lake}/_staging/*",
      "${local.lake}/quarantine/*",
      "${local.lake}/quality/*",
      "${local.lake}/_state/builds/*",
      "${local.lake}/_state/build-sessions/*",
      "${local.lake}/catalog/*",
      "${local.lake}/warehouse/*",
    ]
  }

  # Partition overwrites and S3A's commits delete what they replace.
  statement {
    sid     = "WriteOwnZones"
    actions = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.lake}/staging/*",
      "${local.lake}/core/*",
      "${local.lake}/marts/*",
      "${local.lake}/_staging/*",
      "${local.lake}/quarantine/*",
      "${local.lake}/quality/*",
      "${local.lake}/_state/builds/*",
      "${local.lake}/_state/build-sessions/*",
      "${local.lake}/catalog/*",
      "${local.lake}/warehouse/*",
    ]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }
}

# --- the SQL endpoint (Spark Thrift Server) serves analysts: it reads the lake and nothing else -----------------------

data "aws_iam_policy_document" "sql_endpoint" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/*"]
  }

  statement {
    sid       = "DecryptLake"
    actions   = ["kms:Decrypt"]
    resources = [module.lake.kms_key_arn]
  }
}

# --- the speed track: reads every event topic, writes the speed zone and its streaming checkpoints --------------------

data "aws_iam_policy_document" "speed_track" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadOwnZones"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/speed/*", "${local.lake}/checkpoints/speed/*"]
  }

  # Each micro-batch writes a new snapshot and prunes old ones; checkpoints are rewritten as they advance.
  statement {
    sid       = "WriteOwnZones"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake}/speed/*", "${local.lake}/checkpoints/speed/*"]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }

  statement {
    sid       = "ConnectToKafka"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [local.kafka_cluster]
  }

  statement {
    sid       = "ConsumeEventTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${local.kafka_topics}/*"]
  }

  # Spark's Kafka source names its own consumer groups (offsets live in the checkpoint, not the group).
  statement {
    sid       = "SparkConsumerGroups"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${local.kafka_groups}/spark-kafka-source-*"]
  }
}

# --- training and scoring (ml/): read the marts and the day's listings, write models/ and the predictions mart ---------

data "aws_iam_policy_document" "training" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadInputsAndOwnZones"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/marts/*", "${local.lake}/staging/stg_listings/*", "${local.lake}/models/*"]
  }

  statement {
    sid       = "WriteOwnZones"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake}/models/*", "${local.lake}/marts/mart_listing_predictions/*"]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }
}

# --- the MLflow server: it proxies every artifact to and from models/ ---------------------------------------------------

data "aws_iam_policy_document" "mlflow" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadOwnZone"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/models/*"]
  }

  statement {
    sid       = "WriteOwnZone"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake}/models/*"]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }
}

# --- Airflow's workers: read the lake (health, gates, decisions); maintenance compacts and expires raw/, quarantine/ ----

data "aws_iam_policy_document" "airflow" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/*"]
  }

  statement {
    sid       = "CompactAndExpireRaw"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.lake}/raw/*"]
  }

  statement {
    sid       = "ExpireQuarantine"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.lake}/quarantine/*"]
  }

  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.lake.kms_key_arn]
  }

  # The ingestion health DAG compares the sink's committed offsets with the topics' ends.
  statement {
    sid       = "ConnectToKafka"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [local.kafka_cluster]
  }

  statement {
    sid       = "DescribeTopicsAndSinkGroup"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeGroup"]
    resources = ["${local.kafka_topics}/*", "${local.kafka_groups}/${var.ingest_consumer_group}"]
  }
}

# --- later: the BigQuery publish job reads the marts (and acts as the BigQuery loader through federation) --------------

data "aws_iam_policy_document" "bigquery_publish" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
  }

  statement {
    sid       = "ReadMarts"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/marts/*"]
  }

  statement {
    sid       = "DecryptLake"
    actions   = ["kms:Decrypt"]
    resources = [module.lake.kms_key_arn]
  }
}

# --- later: the secrets' copier reads Sluice's secrets and PostgreSQL's master secret ---------------------------------

data "aws_iam_policy_document" "secrets_sync" {
  statement {
    sid       = "ReadSluiceSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = concat([for secret in aws_secretsmanager_secret.sluice : secret.arn], [module.postgres.master_user_secret_arn])
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]
  }
}
