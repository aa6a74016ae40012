import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ingestion.contract import Contract, breaking_changes, load_contract

PUBLISHED = Path(__file__).parent.parent / "fixtures" / "marketplace.v1.published.json"
ENVELOPE = {"event_id": "e-1", "event_time": "2026-11-01T21:15:00+09:00", "schema_version": 1}


def _published() -> dict[str, Any]:
    return json.loads(PUBLISHED.read_text())


def test_the_current_contract_does_not_break_readers_of_the_published_one() -> None:
    assert breaking_changes(Contract.from_document(_published()), load_contract()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["events"].pop("chat_started"), "event chat_started was removed"),
        (lambda d: d["events"]["listing_created"]["properties"].pop("price"), "listing_created.price was removed"),
        (
            lambda d: d["events"]["listing_created"]["properties"]["price"].update(type="number"),
            "listing_created.price changed type from integer to number",
        ),
        (
            lambda d: d["events"]["listing_viewed"]["required"].append("search_id"),
            "listing_viewed.search_id became required; old events lack it",
        ),
        (
            lambda d: d["events"]["chat_started"]["required"].remove("buyer_id"),
            "chat_started.buyer_id is no longer required",
        ),
        (
            lambda d: d["events"]["moderation_decided"]["properties"]["label"]["enum"].remove("scam"),
            "moderation_decided.label lost enum values ['scam']",
        ),
        (
            lambda d: d["events"]["message_sent"].update(topic="marketplace.messages"),
            "event message_sent moved from marketplace.chats/chat_id to marketplace.messages/chat_id",
        ),
    ],
)
def test_a_breaking_change_is_named(change: Any, expected: str) -> None:
    changed = copy.deepcopy(_published())
    change(changed)
    assert expected in breaking_changes(Contract.from_document(_published()), Contract.from_document(changed))


def test_additive_changes_are_compatible() -> None:
    changed = copy.deepcopy(_published())
    changed["events"]["listing_created"]["properties"]["condition"] = {"type": "string"}
    changed["events"]["moderation_decided"]["properties"]["label"]["enum"].append("counterfeit")
    assert breaking_changes(Contract.from_document(_published()), Contract.from_document(changed)) == []


def test_valid_events_pass_and_each_fault_is_named() -> None:
    contract = load_contract()
    viewed = {**ENVELOPE, "event_type": "listing_viewed", "listing_id": 7, "user_id": 3}
    assert contract.violation(viewed) is None
    assert contract.violation({**viewed, "listing_id": "7"}) == "Expected `int`, got `str` - at `$.listing_id`"
    assert contract.violation({k: v for k, v in viewed.items() if k != "user_id"}) == (
        "Object missing required field `user_id`"
    )
    assert "timezone" in (contract.violation({**viewed, "event_time": "2026-11-01T21:15:00"}) or "")
    assert "event_type must be one of" in (contract.violation({**viewed, "event_type": "listing_liked"}) or "")
    assert "takes event types ['chat_started', 'message_sent']" in (
        contract.violation(viewed, topic="marketplace.chats") or ""
    )
    created = {
        **ENVELOPE,
        "event_type": "listing_created",
        "listing_id": 1,
        "seller_id": 2,
        "region_id": 3,
        "category": "furniture",
        "title": "원목 의자",
        "price": -1,
    }
    assert contract.violation(created) == "Expected `int` >= 0 - at `$.price`"
    assert "reads contract v1" in (contract.violation({**viewed, "schema_version": 2}) or "")


def test_event_type_is_required_on_a_topic_with_a_single_event_type() -> None:
    contract = load_contract()
    signed_up = {**ENVELOPE, "user_id": 1, "region_id": 2}
    assert contract.events_on("marketplace.users") == ("user_signed_up",)
    assert contract.violation({**signed_up, "event_type": "user_signed_up"}, "marketplace.users") is None
    assert "missing required field `event_type`" in (contract.violation(signed_up, "marketplace.users") or "")
    for sneaky in ({"event_type": "\x00"}, {"event_type": "\x00", "never": 1}):
        assert contract.violation({**signed_up, **sneaky}, "marketplace.users") is not None


def test_every_event_type_lives_on_one_topic_with_its_key() -> None:
    contract = load_contract()
    assert contract.topics == (
        "marketplace.chats",
        "marketplace.listings",
        "marketplace.moderation",
        "marketplace.searches",
        "marketplace.transactions",
        "marketplace.users",
    )
    assert contract.events_on("marketplace.transactions") == ("reservation_made", "transaction_completed")
    assert contract.events["chat_started"].key == "chat_id"
