"""Fixtures for ingestion tests: an isolated lake bucket and consumer group over the shared topics."""

from __future__ import annotations

import pytest

from ingestion.contract import load_contract
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.topics import create_pipeline_topics
from tests.integration.lake_readers import commit_group_at_end


@pytest.fixture
def lake(stack: Settings, unique: str) -> Settings:
    """Settings whose lake bucket and ingest group are this test's own; the group starts at the topics' end."""
    settings = stack.model_copy(update={"lake_bucket": unique, "ingest_group": unique, "ingest_flush_seconds": 1.0})
    create_pipeline_topics(settings, load_contract().topics)
    s3_client(settings).create_bucket(Bucket=unique)
    commit_group_at_end(settings, [*load_contract().topics])
    return settings
