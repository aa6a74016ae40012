import json

from kafka import KafkaConsumer, KafkaProducer

from sluice.settings import Settings
from sluice.topics import ensure_topic


def test_a_kafka_python_client_configured_from_settings_round_trips_keyed_events(stack: Settings, unique: str) -> None:
    assert ensure_topic(stack, unique, partitions=3)
    assert not ensure_topic(stack, unique, partitions=3)  # idempotent

    sent = [{"event_id": f"e{i}", "user_id": i % 7} for i in range(200)]
    producer = KafkaProducer(bootstrap_servers=stack.kafka_servers, acks="all", enable_idempotence=True)
    for event in sent:
        producer.send(unique, key=str(event["user_id"]).encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        unique,
        bootstrap_servers=stack.kafka_servers,
        group_id=unique,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,  # ends the loop if fewer than all events ever arrive
    )
    received = []
    for record in consumer:
        received.append((record.partition, json.loads(record.value)))
        if len(received) == len(sent):
            break
    consumer.close()

    assert sorted(event["event_id"] for _, event in received) == sorted(event["event_id"] for event in sent)
    partitions_by_user: dict[int, set[int]] = {}
    for partition, event in received:
        partitions_by_user.setdefault(event["user_id"], set()).add(partition)
    assert all(len(partitions) == 1 for partitions in partitions_by_user.values()), "a key must map to one partition"
    assert len({p for ps in partitions_by_user.values() for p in ps}) > 1, "7 keys should spread over partitions"
