import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from statistics import mean, median
from typing import Any

import pytest

from ingestion.contract import load_contract
from ingestion.simulator import _CUES, Record, SimulationConfig, _Listing, _World, simulate

CONTRACT = load_contract()
START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday, 09:00 in Seoul
SEOUL = timezone(timedelta(hours=9))  # Korea keeps no daylight saving time
HANGUL = re.compile("[가-힣]")
LATIN_WORD = re.compile("[A-Za-z]{2,}")
BAD_LABELS = ("spam", "scam", "prohibited", "abusive")
MALFORMED_KINDS = {"invalid JSON", "missing field", "wrong type", "unknown event_type", "naive event_time"}


def run(**overrides: Any) -> list[Record]:
    return list(simulate(SimulationConfig(start=START, **overrides)))


def decode(record: Record) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(record.value)
    return event


def events(records: list[Record], event_type: str | None = None) -> list[dict[str, Any]]:
    """Each valid event once (retries left out), in send order."""
    decoded = (decode(record) for record in records if record.kind == "valid")
    return [event for event in decoded if event_type in (None, event["event_type"])]


def seoul_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["event_time"]).astimezone(SEOUL)


@pytest.fixture(scope="module")
def day() -> list[Record]:
    """The default world (2,000 users) for a day: about 20k records."""
    return run(seed=11)


@pytest.fixture(scope="module")
def week() -> list[Record]:
    """A smaller world for a week: enough listings for moderation, enough days for the weekly cycle."""
    return run(seed=12, days=7, users=500)


@pytest.fixture(scope="module")
def market() -> list[dict[str, Any]]:
    """A big world's listings for a day, each with its moderation decision (or None): a few hundred bad ones."""
    wanted = (b'"event_type":"listing_created"', b'"event_type":"moderation_decided"')
    records = [r for r in run(seed=16, users=20_000) if any(event_type in r.value for event_type in wanted)]
    decided = {e["listing_id"]: e["label"] for e in events(records, "moderation_decided")}
    return [{**e, "label": decided.get(e["listing_id"])} for e in events(records, "listing_created")]


@pytest.fixture(scope="module")
def troubled() -> list[Record]:
    """Large shares of late, duplicate and malformed records, so their counts are far from noise."""
    return run(seed=13, late_share=0.1, duplicate_share=0.05, malformed_share=0.05)


def test_the_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    first, again, other = run(max_events=3_000), run(max_events=3_000), run(seed=8, max_events=3_000)
    assert first == again
    assert {r.event_id for r in first if r.event_id}.isdisjoint(r.event_id for r in other if r.event_id)
    assert [r.value for r in first] != [r.value for r in other]


CREATED_IDS = {  # what each event creates, and the id it gets
    "user_signed_up": "user_id",
    "listing_created": "listing_id",
    "chat_started": "chat_id",
    "transaction_completed": "transaction_id",
    "report_filed": "report_id",
}


def test_worlds_of_other_days_or_seeds_share_their_users_but_no_event_or_created_id() -> None:
    """Simulations of different days (or seeds) land in one lake: `make demo` on Monday, then on Tuesday."""
    small = {"users": 500, "days": 0.5}  # big enough for a few reports in either world
    monday = events(run(seed=21, **small))
    worlds = {
        "next day": events(list(simulate(SimulationConfig(seed=21, start=START + timedelta(days=1), **small)))),
        "other seed": events(run(seed=22, **small)),
    }
    for name, other in worlds.items():
        assert {e["event_id"] for e in monday}.isdisjoint(e["event_id"] for e in other), name
        for event_type, key in CREATED_IDS.items():
            created = {e[key] for e in monday if e["event_type"] == event_type}
            assert created, event_type
            assert created.isdisjoint(e[key] for e in other if e["event_type"] == event_type), (name, event_type)
    viewers = {e["user_id"] for e in monday if e["event_type"] == "listing_viewed" and e["user_id"] <= 500}
    next_day_viewers = {e["user_id"] for e in worlds["next day"] if e["event_type"] == "listing_viewed"}
    assert len(viewers & next_day_viewers) > 30  # the same users come back the next day
    ids = [value for e in monday for name, value in e.items() if name.endswith("_id") and isinstance(value, int)]
    assert max(ids) < 2**53  # exact in JavaScript too


def test_the_default_start_is_midnight_utc_three_days_ago() -> None:
    today = datetime.now(UTC).date()
    assert SimulationConfig().start == datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=3)


def test_max_events_stops_after_that_many_records() -> None:
    assert len(run(max_events=1_234)) == 1_234
    assert run(max_events=0) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"start": datetime(2026, 11, 16)},  # naive
        {"days": 0},
        {"users": 0},
        {"late_share": 1.0},
        {"duplicate_share": -0.1},
        {"duplicate_share": 0.6, "malformed_share": 0.4},
        {"max_events": -1},
    ],
)
def test_impossible_configurations_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|needs"):
        SimulationConfig(**{"start": START, **overrides})


def test_every_valid_record_meets_the_contract_on_its_topic_under_its_key(day: list[Record]) -> None:
    assert len(day) > 15_000
    for record in day:
        if record.kind == "malformed":
            continue
        event = decode(record)
        spec = CONTRACT.events[event["event_type"]]
        assert CONTRACT.violation(event, record.topic) is None, record.value
        assert record.topic == spec.topic
        assert record.key == str(event[spec.key]).encode()
        assert record.event_id == event["event_id"]
        assert event["schema_version"] == CONTRACT.version
    assert {r.topic for r in day} == set(CONTRACT.topics)
    assert {e["event_type"] for e in events(day)} == set(CONTRACT.events)


def test_values_are_compact_utf8_json_with_the_envelope_first(day: list[Record]) -> None:
    for record in day:
        if record.kind != "malformed":
            event = decode(record)
            assert record.value == json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
            assert list(event)[:4] == ["event_id", "event_type", "event_time", "schema_version"]
    assert any(HANGUL.search(record.value.decode()) for record in day)  # written as UTF-8, not \uXXXX escapes


def test_event_ids_are_unique_and_retries_repeat_an_earlier_record_byte_for_byte(day: list[Record]) -> None:
    valid_ids = [r.event_id for r in day if r.kind == "valid"]
    assert len(valid_ids) == len(set(valid_ids))
    assert all(r.event_id is None for r in day if r.kind == "malformed")
    sent: dict[bytes, Record] = {}
    for record in day:
        if record.kind == "valid":
            sent[record.value] = record
        elif record.kind == "duplicate":
            original = sent[record.value]  # KeyError: a retry of nothing sent before it
            assert (original.topic, original.key, original.event_id) == (record.topic, record.key, record.event_id)


def _malformed_kind(record: Record) -> str:
    try:
        event = json.loads(record.value)
    except ValueError:  # UnicodeDecodeError included
        return "invalid JSON"
    spec = CONTRACT.events.get(event.get("event_type"))
    if spec is None:
        return "unknown event_type" if "event_type" in event else "missing field"
    if any(name not in event for name in (*CONTRACT.envelope_required, *spec.required)):
        return "missing field"
    if datetime.fromisoformat(event["event_time"]).tzinfo is None:
        return "naive event_time"
    properties = {**CONTRACT.envelope, **spec.properties}
    if any(isinstance(event.get(name), str) for name, prop in properties.items() if prop["type"] == "integer"):
        return "wrong type"
    return "not broken"


def test_malformed_records_break_the_contract_in_each_of_five_ways() -> None:
    records = run(seed=14, malformed_share=0.2, max_events=5_000)
    malformed = [r for r in records if r.kind == "malformed"]
    assert len(malformed) > 500
    for record in malformed:
        try:
            event = json.loads(record.value)
        except ValueError:
            continue
        assert CONTRACT.violation(event, record.topic) is not None, record.value
    assert Counter(_malformed_kind(r) for r in malformed).keys() == MALFORMED_KINDS


def test_shares_of_duplicate_and_malformed_records_are_honoured(day: list[Record], troubled: list[Record]) -> None:
    kinds = Counter(r.kind for r in troubled)
    assert len(troubled) > 20_000
    assert kinds["duplicate"] / len(troubled) == pytest.approx(0.05, rel=0.15)
    assert kinds["malformed"] / len(troubled) == pytest.approx(0.05, rel=0.15)
    defaults = Counter(r.kind for r in day)
    assert defaults["duplicate"] / len(day) == pytest.approx(0.01, rel=0.4)
    assert defaults["malformed"] / len(day) == pytest.approx(0.005, rel=0.5)


def _lags(records: list[Record]) -> list[tuple[datetime, timedelta]]:
    """Valid records whose event time lies behind the newest one sent before them, and by how much."""
    newest = datetime.min.replace(tzinfo=UTC)
    lags = []
    for event in events(records):
        event_time = datetime.fromisoformat(event["event_time"])
        if event_time < newest:
            lags.append((event_time, newest - event_time))
        newest = max(newest, event_time)
    return lags


def test_late_records_are_one_to_six_hours_behind_the_records_sent_before_them(troubled: list[Record]) -> None:
    lags = _lags(troubled)
    valid = sum(r.kind == "valid" for r in troubled)
    assert len(lags) / valid == pytest.approx(0.1, rel=0.15)
    assert all(lag <= timedelta(hours=6) for _, lag in lags)
    # Held back 1-6 hours, less a quiet minute or two at night before the last record in order was sent. Those
    # due after the simulated span are sent right after its last record, so they may be less late.
    sent_in_span = [lag for event_time, lag in lags if event_time < START + timedelta(hours=24 - 6)]
    assert all(lag > timedelta(minutes=45) for lag in sent_in_span)
    assert len(sent_in_span) > 0.7 * len(lags)


def test_without_late_records_event_time_never_goes_backwards() -> None:
    records = run(seed=15, max_events=5_000, late_share=0, duplicate_share=0, malformed_share=0)
    assert {r.kind for r in records} == {"valid"}
    assert _lags(records) == []


def test_event_times_lie_in_the_simulated_span_with_an_offset(day: list[Record], week: list[Record]) -> None:
    for records, days in ((day, 1), (week, 7)):
        times = [datetime.fromisoformat(e["event_time"]) for e in events(records)]
        assert all(t.utcoffset() == timedelta(hours=9) for t in times)
        assert min(times) >= START
        assert max(times) < START + timedelta(days=days)
        assert max(times) > START + timedelta(days=days - 0.1)  # and fill it to the end


def test_ids_are_positive_integers_and_regions_are_in_range(day: list[Record]) -> None:
    for event in events(day):
        ids = [value for name, value in event.items() if name.endswith("_id") and name not in ("event_id", "search_id")]
        assert all(isinstance(value, int) and value > 0 for value in ids), event
        assert 1 <= event.get("region_id", 1) <= 25


def test_the_funnel_narrows_from_views_to_transactions(day: list[Record]) -> None:
    counts = Counter(e["event_type"] for e in events(day))
    assert counts["listing_viewed"] > 5 * counts["chat_started"]
    assert counts["message_sent"] >= counts["chat_started"]  # a chat starts with a message
    assert counts["chat_started"] > 2 * counts["reservation_made"]
    assert counts["reservation_made"] >= counts["transaction_completed"] > 0
    assert counts["listing_created"] > counts["transaction_completed"]


def test_every_funnel_step_follows_the_step_it_needs(day: list[Record]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events(day):
        by_type[event["event_type"]].append(event)
    listings = {e["listing_id"]: e for e in by_type["listing_created"]}
    chats = {e["chat_id"]: e for e in by_type["chat_started"]}
    reservations = {(e["listing_id"], e["buyer_id"]): e for e in by_type["reservation_made"]}
    searches = {e["search_id"]: e for e in by_type["search_performed"]}

    def after(event: dict[str, Any], cause: dict[str, Any]) -> bool:
        return seoul_time(event) >= seoul_time(cause)

    for chat in chats.values():
        listing = listings[chat["listing_id"]]
        assert chat["seller_id"] == listing["seller_id"] != chat["buyer_id"]
        assert after(chat, listing)
    for message in by_type["message_sent"]:
        chat = chats[message["chat_id"]]
        assert message["sender_id"] in (chat["buyer_id"], chat["seller_id"])
        assert after(message, chat)
    for reservation in reservations.values():
        chat = chats[reservation["chat_id"]]
        assert (chat["listing_id"], chat["buyer_id"]) == (reservation["listing_id"], reservation["buyer_id"])
        assert after(reservation, chat)
    for sale in by_type["transaction_completed"]:
        assert after(sale, reservations[sale["listing_id"], sale["buyer_id"]])
    for view in by_type["listing_viewed"]:
        assert after(view, listings[view["listing_id"]])
        if "search_id" in view:
            search = searches[view["search_id"]]
            assert search["user_id"] == view["user_id"]
            assert after(view, search)
    for event in by_type["report_filed"] + by_type["moderation_decided"]:
        assert after(event, listings[event["listing_id"]])
    assert sum("search_id" in view for view in by_type["listing_viewed"]) > 100


def test_a_few_users_are_very_active(day: list[Record]) -> None:
    activity = Counter(e["user_id"] for e in events(day) if e["event_type"] in ("listing_viewed", "search_performed"))
    counts = sorted(activity.values(), reverse=True)
    # With equal activity the top tenth would do about a tenth of the browsing.
    assert sum(counts[: len(counts) // 10]) / sum(counts) > 0.3
    assert counts[0] > 10 * median(counts)


def test_evening_peaks_quiet_nights_and_busier_weekends(week: list[Record]) -> None:
    seoul_times = [seoul_time(e) for e in events(week)]
    hours = Counter(t.hour for t in seoul_times)
    assert hours[21] > 5 * hours[4]
    assert hours[21] > hours[12] > hours[4]
    # Days by searches, which start sessions: views also grow as the young market fills up with listings.
    days = Counter(seoul_time(e).date() for e in events(week, "search_performed"))
    monday = START.astimezone(SEOUL).date()
    weekdays = [days[monday + timedelta(days=d)] for d in range(1, 5)]  # Tuesday to Friday: whole days in Seoul
    weekend = [days[monday + timedelta(days=d)] for d in (5, 6)]
    assert mean(weekend) > 1.15 * mean(weekdays)


def test_listings_are_mostly_korean_and_priced_in_won_by_category(week: list[Record]) -> None:
    listings = events(week, "listing_created")
    langs = Counter(e["lang"] for e in listings)
    assert langs["ko"] > 0.7 * len(listings)
    assert langs["en"] > 0
    korean = [listing for listing in listings if listing["lang"] == "ko"]
    english = [listing for listing in listings if listing["lang"] == "en"]
    assert all(HANGUL.search(listing["body"]) for listing in korean)
    # Mostly in the listing's language, with the other one mixed in now and then ("iPhone 13 팝니다", "직거래 only").
    assert sum(bool(HANGUL.search(listing["title"])) for listing in korean) > 0.95 * len(korean)
    assert 0 < sum(bool(LATIN_WORD.search(listing["title"] + listing["body"])) for listing in korean) < len(korean) / 3
    assert 0 < sum(bool(HANGUL.search(listing["title"] + listing["body"])) for listing in english) < len(english) / 3
    assert all(listing["price"] % 1_000 == 0 for listing in listings)
    assert any(listing["price"] == 0 for listing in listings)  # given away

    prices: dict[str, list[int]] = defaultdict(list)
    for listing in listings:
        prices[listing["category"]].append(listing["price"])
    assert median(prices["digital"]) > 5 * median(prices["books"])


def test_moderation_labels_are_imbalanced_and_share_wording(week: list[Record]) -> None:
    labels = {e["listing_id"]: e["label"] for e in events(week, "moderation_decided")}
    counts = Counter(labels.values())
    assert counts["normal"] > len(labels) / 2
    assert all(0 < counts[label] < counts["normal"] / 3 for label in BAD_LABELS), counts

    words: dict[str, Counter[str]] = defaultdict(Counter)  # label -> word -> listings using it
    for listing in events(week, "listing_created"):
        if listing["listing_id"] in labels:
            text = f"{listing['title']} {listing['body']}".lower()
            words[labels[listing["listing_id"]]].update(set(re.findall(r"\w+", text)))
    for label in BAD_LABELS:
        assert len(words[label].keys() & words["normal"].keys()) >= 10, label
        # No word gives a label away: none used by half its listings is missing from normal ones.
        giveaways = [w for w, n in words[label].items() if n >= counts[label] / 2 and w not in words["normal"]]
        assert giveaways == [], label


def _text(listing: dict[str, Any]) -> str:
    return f"{listing['title']}\n{listing['body']}"


def test_listing_text_is_varied_and_no_phrase_gives_a_label_away(market: list[dict[str, Any]]) -> None:
    """A moderation model trained on these listings must learn what bad listings mean, not a few templates."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for listing in market:
        if listing["label"] is not None:
            by_label[listing["label"]].append(_text(listing))
    for label, texts in by_label.items():
        assert len({text.split("\n", 1)[1] for text in texts}) > 0.97 * len(texts), label  # bodies hardly repeat
    for label in BAD_LABELS:
        texts = by_label[label]
        assert len(texts) > 50, label
        uses = Counter(
            phrase for text in texts for lang in ("ko", "en") for phrase in _CUES[label][lang] if phrase in text
        )
        assert len(uses) >= 6, (label, uses)  # many ways of saying it turn up (prohibited ones name the item too)
        assert max(uses.values()) < 0.15 * len(texts), (label, uses.most_common(3))  # and none dominates


@pytest.mark.parametrize(
    "words",
    [
        ("택배", "ship", "parcel"),  # delivery
        ("현금", "계좌이체", "cash", "Cash", "transfer"),
        ("급처", "급매", "빠른 거래", "quick sale", "Quick sale", "today", "asap"),  # urgency
        ("정품", "enuine"),
        ("카톡", "KakaoTalk"),
        ("여러 개", "두 개", "묶음", "bundle", "Bundle", "two of"),  # more than one
        ("사절", "차단", "lowball", "blocked"),
    ],
)
def test_normal_listings_also_use_words_bad_ones_lean_on(market: list[dict[str, Any]], words: tuple[str, ...]) -> None:
    normal = [_text(listing) for listing in market if listing["label"] == "normal"]
    share = sum(any(word in text for word in words) for text in normal) / len(normal)
    assert 0.005 < share < 0.5, share  # sometimes, not mostly


# Prices as people write them, and how to read each back in won.
WRITTEN_PRICES = {
    "만": (re.compile(r"(\d+(?:\.\d)?)만(?! ?\d천)"), lambda m: round(float(m[1]) * 10_000)),
    "만 천": (re.compile(r"(\d+)만 (\d)천원"), lambda m: int(m[1]) * 10_000 + int(m[2]) * 1_000),
    "천원": (re.compile(r"(?<![\d만])(?<!만 )(\d)천원"), lambda m: int(m[1]) * 1_000),
    "원": (re.compile(r"(\d[\d,]*)원"), lambda m: int(m[1].replace(",", ""))),
    "₩": (re.compile(r"₩([\d,]+)"), lambda m: int(m[1].replace(",", ""))),
    "won": (re.compile(r"KRW (\d[\d,]*)|(\d[\d,]*) won"), lambda m: int((m[1] or m[2]).replace(",", ""))),
    "k": (re.compile(r"\b(\d+)k\b"), lambda m: int(m[1]) * 1_000),
}


def test_prices_written_in_the_text_are_the_listing_price(market: list[dict[str, Any]]) -> None:
    """3만원, 3.5만, 35,000원, ₩35000, 35k: however the price is written in the text, it is the listing's price."""
    formats: Counter[str] = Counter()
    priced = 0
    for listing in market:
        found = False
        for name, (pattern, won) in WRITTEN_PRICES.items():
            for match in pattern.finditer(_text(listing)):
                assert won(match) == listing["price"], (name, match[0], listing)
                formats[name] += 1
                found = True
        priced += found
    assert formats.keys() == WRITTEN_PRICES.keys(), formats
    assert min(formats.values()) >= 5, formats
    assert priced > 0.3 * len(market)


def test_moderators_rarely_err_and_mostly_on_normal_listings_that_sound_bad() -> None:
    """Moderators judge 99% of listings right. Their false alarms fall mostly on normal listings whose wording sounds
    bad (a fifth of normal ones, e.g. "카톡으로 시간 약속 잡아요"), which they flag with the label it sounds like."""
    world = _World(SimulationConfig(start=START, users=10, late_share=0, duplicate_share=0, malformed_share=0))
    n = 20_000

    def decisions(label: str, lookalike: str) -> Counter[str]:
        for listing_id in range(n):
            world._decide(0.0, _Listing(listing_id, 1, 1, "etc", 10_000, label, lookalike))
        labels = Counter(decode(record)["label"] for record in world._ready)
        world._ready.clear()
        return labels

    plain, sounding, bad = decisions("normal", ""), decisions("normal", "scam"), decisions("spam", "")
    assert set(sounding) == {"normal", "scam"}
    assert sounding["scam"] / n == pytest.approx(0.035, rel=0.2)  # nearly ten times as often as other normal ones
    assert 1 - plain["normal"] / n == pytest.approx(0.00375, rel=0.35)
    assert (0.8 * plain["normal"] + 0.2 * sounding["normal"]) / n == pytest.approx(0.99, abs=0.002)
    assert set(bad) == {"spam", "normal"}
    assert bad["normal"] / n == pytest.approx(0.01, rel=0.3)  # a missed bad listing
