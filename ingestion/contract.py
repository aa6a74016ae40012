"""The event contracts in ingestion/contracts/, as the producer, the sink and Spark's readers use them.

The JSON document is the one source. From it this module builds typed msgspec structs (one per event
type, tagged by `event_type`), so validating an event is a single C-speed decode whose error names the
field; and the compatibility check that keeps a new version from breaking old readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import msgspec

CONTRACTS_DIR = Path(__file__).parent / "contracts"
CURRENT_VERSION = 1
_SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


@dataclass(frozen=True)
class EventSpec:
    name: str
    topic: str
    key: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]


def _field_type(prop: dict[str, Any]) -> Any:
    """The Python type msgspec checks a JSON property against."""
    if prop.get("format") == "date-time":
        return Annotated[datetime, msgspec.Meta(tz=True)]  # a naive time cannot be placed in an hour
    if "enum" in prop:
        return Literal[tuple(prop["enum"])]
    meta = {
        constraint: prop[keyword]
        for keyword, constraint in (("minimum", "ge"), ("maximum", "le"), ("minLength", "min_length"))
        if keyword in prop
    }
    scalar = _SCALARS[prop["type"]]
    return Annotated[scalar, msgspec.Meta(**meta)] if meta else scalar


@dataclass(frozen=True)
class Contract:
    version: int
    envelope: dict[str, dict[str, Any]]
    envelope_required: tuple[str, ...]
    events: dict[str, EventSpec]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Contract:
        envelope = document["envelope"]
        events = {
            name: EventSpec(name, spec["topic"], spec["key"], spec["properties"], tuple(spec["required"]))
            for name, spec in document["events"].items()
        }
        return cls(document["version"], envelope["properties"], tuple(envelope["required"]), events)

    @cached_property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({spec.topic for spec in self.events.values()}))

    def events_on(self, topic: str) -> tuple[str, ...]:
        return tuple(name for name, spec in self.events.items() if spec.topic == topic)

    @cached_property
    def structs(self) -> dict[str, type[msgspec.Struct]]:
        """One struct per event type; `event_type` is the tag, so it is checked by the decode."""
        structs = {}
        for name, spec in self.events.items():
            required = {*self.envelope_required, *spec.required}
            fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
            for field, prop in {**self.envelope, **spec.properties}.items():
                if field == "event_type":
                    continue
                kind = Literal[self.version] if field == "schema_version" else _field_type(prop)
                fields.append((field, kind) if field in required else (field, kind | None, None))
            structs[name] = msgspec.defstruct(name, fields, tag_field="event_type", tag=name, kw_only=True)
        return structs

    @cached_property
    def _decoders(self) -> dict[str, msgspec.json.Decoder[Any]]:
        # msgspec only insists on the tag when choosing among several structs; a placeholder that no
        # event names makes `event_type` required on topics that carry a single event type too. Its one
        # field admits no value, so nothing ever decodes as the placeholder itself.
        unsatisfiable = Annotated[int, msgspec.Meta(ge=1, le=0)]
        placeholder = msgspec.defstruct(
            "_no_event", [("never", unsatisfiable)], tag_field="event_type", tag="\x00", kw_only=True
        )
        return {
            topic: msgspec.json.Decoder(Union[(*(self.structs[name] for name in self.events_on(topic)), placeholder)])
            for topic in self.topics
        }

    def decoder(self, topic: str) -> msgspec.json.Decoder[Any]:
        """Decodes and validates one raw value from `topic`; raises msgspec.DecodeError naming the field."""
        return self._decoders[topic]

    def violation(self, event: object, topic: str | None = None) -> str | None:
        """Why a decoded event breaks the contract, naming the field; None if it is valid."""
        if topic is None:
            spec = self.events.get(str(event.get("event_type"))) if isinstance(event, dict) else None
            if spec is None:
                return f"not an event of contract v{self.version}; event_type must be one of {sorted(self.events)}"
            topic = spec.topic
        try:
            self.decoder(topic).decode(json.dumps(event))
        except msgspec.DecodeError as error:
            return explain(error, topic, self)
        return None


def explain(error: msgspec.DecodeError, topic: str, contract: Contract) -> str:
    """A dead-letter reason: msgspec's message (it names the field) plus what the topic accepts."""
    message = str(error)
    if "$.event_type" in message or "missing required field `event_type`" in message:
        message += f"; topic {topic} takes event types {list(contract.events_on(topic))}"
    elif "schema_version" in message:
        message += f"; this sink reads contract v{contract.version}"
    return message


def load_contract(version: int = CURRENT_VERSION) -> Contract:
    path = CONTRACTS_DIR / f"marketplace.v{version}.json"
    return Contract.from_document(json.loads(path.read_text()))


def breaking_changes(old: Contract, new: Contract) -> list[str]:
    """What in `new` would break a reader (or the data) written against `old`."""
    problems = []
    for name, before in old.events.items():
        after = new.events.get(name)
        if after is None:
            problems.append(f"event {name} was removed")
            continue
        if (before.topic, before.key) != (after.topic, after.key):
            problems.append(f"event {name} moved from {before.topic}/{before.key} to {after.topic}/{after.key}")
        new_fields = {**new.envelope, **after.properties}
        for field, prop in {**old.envelope, **before.properties}.items():
            now = new_fields.get(field)
            if now is None:
                problems.append(f"{name}.{field} was removed")
            elif now["type"] != prop["type"]:
                problems.append(f"{name}.{field} changed type from {prop['type']} to {now['type']}")
            elif lost := set(prop.get("enum", ())) - set(now.get("enum", prop.get("enum", ()))):
                problems.append(f"{name}.{field} lost enum values {sorted(lost)}")
        old_required = {*old.envelope_required, *before.required}
        new_required = {*new.envelope_required, *after.required}
        problems += [f"{name}.{f} is no longer required" for f in sorted(old_required - new_required)]
        problems += [f"{name}.{f} became required; old events lack it" for f in sorted(new_required - old_required)]
    return problems
