"""The lake bucket: encrypted with its own key, versioned, private, TLS only, logged, and it forgets raw/ and
quarantine/ after exactly as many days as Sluice's settings say."""

from __future__ import annotations

import pytest

from sluice import lake
from sluice.settings import Settings
from tests.terraform.config import module, prod, ref, statements

LAKE = module("lake_bucket")


def test_objects_are_encrypted_with_a_rotating_customer_managed_key() -> None:
    rule = LAKE.resource("aws_s3_bucket_server_side_encryption_configuration", "lake")["rule"][0]
    default = rule["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    assert ref(default["kms_master_key_id"]) == "aws_kms_key.lake.arn"
    assert rule["bucket_key_enabled"] is True
    key = LAKE.resource("aws_kms_key", "lake")
    assert key["enable_key_rotation"] is True
    assert ref(key["policy"]) == "data.aws_iam_policy_document.key.json"


def test_versioning_is_enabled() -> None:
    versioning = LAKE.resource("aws_s3_bucket_versioning", "lake")
    assert ref(versioning["bucket"]) == "aws_s3_bucket.lake.id"
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"


@pytest.mark.parametrize("bucket", ["lake", "logs"])
def test_public_access_is_blocked(bucket: str) -> None:
    block = LAKE.resource("aws_s3_bucket_public_access_block", bucket)
    assert ref(block["bucket"]) == f"aws_s3_bucket.{bucket}.id"
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert {flag: block.get(flag) for flag in flags} == dict.fromkeys(flags, True)
    ownership = LAKE.resource("aws_s3_bucket_ownership_controls", bucket)
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"  # ACLs off


@pytest.mark.parametrize("bucket", ["lake", "logs"])
def test_the_bucket_policy_denies_requests_without_tls(bucket: str) -> None:
    policy = LAKE.resource("aws_s3_bucket_policy", bucket)
    assert ref(policy["bucket"]) == f"aws_s3_bucket.{bucket}.id"
    assert ref(policy["policy"]) == f"data.aws_iam_policy_document.{bucket}.json"
    document = LAKE.data("aws_iam_policy_document", bucket)
    denials = [
        statement
        for statement in statements(document)
        if statement["effect"] == "Deny"
        and {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]} in statement.get("condition", [])
    ]
    assert len(denials) == 1, "one statement denies every request made without TLS"
    (deny,) = denials
    assert deny["actions"] == ["s3:*"]
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    arn = f"${{aws_s3_bucket.{bucket}.arn}}"
    assert sorted(deny["resources"]) == sorted([arn, f"{arn}/*"])


def _expiration_by_prefix() -> dict[str, object]:
    rules = LAKE.resource("aws_s3_bucket_lifecycle_configuration", "lake")["rule"]
    assert all(rule["status"] == "Enabled" for rule in rules)
    return {rule["filter"][0].get("prefix"): rule["expiration"][0]["days"] for rule in rules if "expiration" in rule}


@pytest.mark.parametrize(
    ("zone", "setting"), [(lake.RAW, "raw_retention_days"), (lake.QUARANTINE, "quarantine_retention_days")]
)
def test_lifecycle_expiration_is_sluices_retention_setting(zone: str, setting: str) -> None:
    """The module expires the zone after its variable; prod passes its own variable, whose default is the setting."""
    assert _expiration_by_prefix()[f"{zone}/"] == f"${{var.{setting}}}"
    assert prod().module("lake")[setting] == f"${{var.{setting}}}"
    assert prod().variable(setting)["default"] == Settings.model_fields[setting].default


def test_only_raw_and_quarantine_expire() -> None:
    assert set(_expiration_by_prefix()) == {f"{lake.RAW}/", f"{lake.QUARANTINE}/"}


def test_old_versions_and_failed_uploads_do_not_pile_up() -> None:
    rules = LAKE.resource("aws_s3_bucket_lifecycle_configuration", "lake")["rule"]
    (everything,) = [rule for rule in rules if rule["filter"] == [{}]]
    assert (
        ref(everything["noncurrent_version_expiration"][0]["noncurrent_days"])
        == "var.noncurrent_version_retention_days"
    )
    assert everything["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 7


def test_access_is_logged_to_the_log_bucket() -> None:
    logging = LAKE.resource("aws_s3_bucket_logging", "lake")
    assert ref(logging["bucket"]) == "aws_s3_bucket.lake.id"
    assert ref(logging["target_bucket"]) == "aws_s3_bucket.logs.id"
    assert logging["target_prefix"]
    # S3's log delivery may write there, for this bucket only.
    (delivery,) = [s for s in statements(LAKE.data("aws_iam_policy_document", "logs")) if s["effect"] == "Allow"]
    assert delivery["principals"] == [{"type": "Service", "identifiers": ["logging.s3.amazonaws.com"]}]
    from_the_lake = {"test": "ArnLike", "variable": "aws:SourceArn", "values": ["${aws_s3_bucket.lake.arn}"]}
    assert from_the_lake in delivery["condition"]


def test_prod_uses_the_module_for_the_lake() -> None:
    call = prod().module("lake")
    assert call["source"] == "../../modules/lake_bucket"
    assert ref(call["bucket_name"]) == "var.lake_bucket_name"
    assert "default" not in prod().variable("lake_bucket_name"), "bucket names are global: the operator picks one"
