# Sluice's secrets outside the local profile, one Secrets Manager secret each. Terraform creates the places, never
# the values (nothing secret passes through variables or state): operators put them with
# `aws secretsmanager put-secret-value` (terraform/README.md). PostgreSQL's master password is RDS's own secret.

locals {
  # secret name (under <name>/) => the setting it holds
  secrets = {
    "postgres-reader-password"  = "SLUICE_POSTGRES_READER_PASSWORD"
    "superset-secret-key"       = "SLUICE_SUPERSET_SECRET_KEY"
    "superset-admin-password"   = "SLUICE_SUPERSET_ADMIN_PASSWORD"
    "superset-analyst-password" = "SLUICE_SUPERSET_ANALYST_PASSWORD"
    "airflow-admin-password"    = "SLUICE_AIRFLOW_ADMIN_PASSWORD"
    "airflow-conn-slack-alerts" = "AIRFLOW_CONN_SLACK_ALERTS"
  }
}

resource "aws_secretsmanager_secret" "sluice" {
  #checkov:skip=CKV2_AWS_57:Application passwords and keys are set by operators; automatic rotation needs a rotation function per secret that Sluice does not have
  for_each = local.secrets

  name                    = "${var.name}/${each.key}"
  description             = "Sluice's ${each.value}"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}
