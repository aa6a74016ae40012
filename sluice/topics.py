"""Kafka topic administration."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from sluice.settings import Settings


def ensure_topic(settings: Settings, topic: str, partitions: int = 3) -> bool:
    """Create the topic if it does not exist; True if it was created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id="sluice-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()
    return True
