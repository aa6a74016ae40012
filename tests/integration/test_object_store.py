import boto3
import pytest
from botocore.exceptions import ClientError

from sluice.objectstore import s3_client
from sluice.settings import Settings


def test_boto3_from_settings_puts_gets_and_lists(stack: Settings, unique: str) -> None:
    s3 = s3_client(stack)
    for name in ("a.json", "b.json", "sub/c.json"):
        s3.put_object(Bucket=stack.lake_bucket, Key=f"{unique}/{name}", Body=name.encode())
    assert s3.get_object(Bucket=stack.lake_bucket, Key=f"{unique}/sub/c.json")["Body"].read() == b"sub/c.json"
    listed = s3.list_objects_v2(Bucket=stack.lake_bucket, Prefix=f"{unique}/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        f"{unique}/a.json",
        f"{unique}/b.json",
        f"{unique}/sub/c.json",
    ]


def test_multipart_upload_reassembles_the_parts(stack: Settings, unique: str) -> None:
    s3 = s3_client(stack)
    key = f"{unique}/big.bin"
    parts = [bytes([i]) * (5 * 1024 * 1024) for i in (1, 2)] + [b"tail"]
    upload = s3.create_multipart_upload(Bucket=stack.lake_bucket, Key=key)
    etags = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket=stack.lake_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=body
            )["ETag"],
        }
        for number, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=stack.lake_bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": etags}
    )
    assert s3.get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read() == b"".join(parts)


def test_wrong_credentials_are_refused(stack: Settings) -> None:
    stranger = boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        region_name=stack.s3_region,
        aws_access_key_id="nobody",
        aws_secret_access_key="wrong",
    )
    with pytest.raises(ClientError) as caught:
        stranger.list_objects_v2(Bucket=stack.lake_bucket)
    assert caught.value.response["Error"]["Code"] in ("InvalidAccessKeyId", "AccessDenied", "SignatureDoesNotMatch")
