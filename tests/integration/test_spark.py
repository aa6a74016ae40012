import json

from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.smoke import spark_roundtrip
from sluice.topics import ensure_topic


def test_spark_writes_parquet_to_s3a_and_reads_it_back(stack: Settings, spark: SparkSession, unique: str) -> None:
    rows = [("l1", "normal", 12000), ("l2", "spam", 500), ("l3", "normal", 30000)]
    uri = f"{stack.lake_uri}/{unique}/listings"
    spark.createDataFrame(rows, "listing_id string, label string, price long").write.parquet(uri)

    back = spark.read.parquet(uri).groupBy("label").agg(F.sum("price").alias("total")).orderBy("label").collect()
    assert [(row["label"], row["total"]) for row in back] == [("normal", 42000), ("spam", 500)]
    # The files really are in the object store, where boto3 sees them.
    keys = [o["Key"] for o in s3_client(stack).list_objects_v2(Bucket=stack.lake_bucket, Prefix=unique)["Contents"]]
    assert any(key.endswith(".parquet") for key in keys)


def test_the_smoke_check_round_trips_and_cleans_up(stack: Settings, spark: SparkSession) -> None:
    rows, uri = spark_roundtrip(stack, rows=500)
    assert rows == 500
    prefix = uri.removeprefix(f"{stack.lake_uri}/")
    assert s3_client(stack).list_objects_v2(Bucket=stack.lake_bucket, Prefix=prefix).get("KeyCount") == 0


def test_spark_reads_a_kafka_topic_with_the_maven_connector(stack: Settings, spark: SparkSession, unique: str) -> None:
    ensure_topic(stack, unique, partitions=2)
    producer = KafkaProducer(bootstrap_servers=stack.kafka_servers, acks="all")
    for i in range(30):
        producer.send(unique, key=f"k{i % 3}".encode(), value=json.dumps({"n": i}).encode())
    producer.flush()
    producer.close()

    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", stack.kafka_servers)
        .option("subscribe", unique)
        .option("startingOffsets", "earliest")
        .load()
    )
    values = sorted(json.loads(row["value"])["n"] for row in frame.select(F.col("value").cast("string")).collect())
    assert values == list(range(30))
