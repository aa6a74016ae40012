"""A seeded simulator of a neighbourhood second-hand marketplace app: contract events, plus deliberately bad records.

One clock drives a small world. User sessions arrive at a rate that follows the hour of the week in Seoul (quiet
nights, evening peaks, busier weekends), a few heavy users open most of them, and every action schedules its
consequences on a heap: listing views lead to chats, messages, reservations and a few transactions; searches lead to
views carrying the search's id; reports lead to moderation decisions. Records therefore come out in event-time order,
except for a share that is held back and sent hours late, a share sent twice (producer retries) and a share broken
on purpose, so that validation, deduplication and late-data handling downstream have real work to do.
"""

from __future__ import annotations

import json
import time
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from heapq import heappop, heappush
from itertools import accumulate, count, islice
from json.encoder import encode_basestring as _quote
from random import Random
from typing import Any, Literal

from kafka import KafkaProducer
from kafka.codec import has_lz4

from ingestion.contract import load_contract
from sluice.settings import Settings

RecordKind = Literal["valid", "duplicate", "malformed"]

CONTRACT = load_contract()
_ROUTES = {name: (spec.topic, spec.key) for name, spec in CONTRACT.events.items()}
_INTEGER_FIELDS = {
    name: tuple(f for f, prop in spec.properties.items() if prop["type"] == "integer")
    for name, spec in CONTRACT.events.items()
}
# Fields naming a user: the world counts users from 1, and `_World._emit` moves its own sign-ups to its id space.
_USER_FIELDS = {
    name: tuple(f for f in ("user_id", "seller_id", "buyer_id", "reporter_id", "sender_id") if f in spec.properties)
    for name, spec in CONTRACT.events.items()
}
_DROPPABLE_FIELDS = {
    name: tuple(f for f in (*CONTRACT.envelope_required, *spec.required) if f != "event_type")
    for name, spec in CONTRACT.events.items()
}
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # for broken records only

# Device clocks are in Korea; event times carry the +09:00 offset a phone there would report.
_SEOUL_S = 9 * 3600
_SEOUL_MS = _SEOUL_S * 1000
_DAY_S = 86_400.0

# Relative activity by hour of day (Seoul) and by weekday (Monday first); both are normalised below.
_HOURLY = (0.5, 0.3, 0.15, 0.08, 0.06, 0.08, 0.2, 0.45, 0.7, 0.8, 0.85, 0.95,
           1.1, 1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.5, 1.7, 1.8, 1.5, 1.0)  # fmt: skip
_WEEKLY = (0.9, 0.9, 0.92, 0.95, 1.05, 1.3, 1.35)

# Behaviour of the world; rates are per session or per event unless named otherwise.
_SESSIONS_PER_USER_DAY = 3.0
_SIGN_UP_P = 0.004  # a session that starts with a new user
_LIST_P = 0.06  # a session in which the user lists an item
_SEARCH_P = 0.35
_FEED_VIEWS_MEAN = 3.0  # after the first, as the user scrolls
_OTHER_REGION_P = 0.15  # browsing the feed of a neighbouring region
_MESSAGES_MEAN = 4.0
_COMPLETE_P = 0.8  # a reservation that ends in a transaction; the rest are cancelled
_REVIEW_P = 0.3  # listings a moderator reviews without any report
_DECISION_ACCURACY = 0.95
_MODERATORS = 12
# Each world's new ids start at a multiple of _ID_SPACE_SIZE picked by a hash of (seed, start): ids stay below 2**53,
# exact in JavaScript (Superset's charts) as in Spark's bigint.
_ID_SPACE_SIZE = 10_000_000
_ID_SPACES = 2**29
_FREE_P = 0.05  # "무료나눔": normal listings given away for 0 KRW
_EN_USER_P = 0.12  # users who write in English
_PARETO_ALPHA = 1.5  # user activity; capped so one user cannot drown a small simulation
_MAX_ACTIVITY = 200.0
_LATE_S = (3_600.0, 6 * 3_600.0)
_RETRY_S = (0.01, 30.0)

_LABELS = ("normal", "spam", "scam", "prohibited", "abusive")
_LABEL_CUMULATIVE = tuple(accumulate((86.0, 5.0, 3.5, 3.0, 2.5)))
_CHAT_P = {"normal": 0.07, "spam": 0.02, "scam": 0.12, "prohibited": 0.08, "abusive": 0.03}
_REPORT_P = {"normal": 0.0015, "spam": 0.04, "scam": 0.05, "prohibited": 0.04, "abusive": 0.06}
_RESERVE_P = {"normal": 0.35, "spam": 0.05, "scam": 0.15, "prohibited": 0.3, "abusive": 0.2}
_REASONS = {"spam": "spam", "scam": "fraud", "prohibited": "prohibited_item", "abusive": "abusive_language"}
_ANY_REASON = (*_REASONS.values(), "other")
_PLATFORMS = ("android", "ios", "web")
_PLATFORM_CUMULATIVE = tuple(accumulate((60.0, 37.0, 3.0)))
_UNKNOWN_EVENT_TYPES = ("listing_bumped", "listing_liked", "profile_updated")


@dataclass(frozen=True)
class _Category:
    name: str
    weight: float
    median_price: int  # KRW
    items: tuple[tuple[str, str], ...]  # (Korean, English)


_CATEGORIES = (
    _Category("digital", 18, 250_000, (("아이폰 13", "iPhone 13"), ("갤럭시 S23", "Galaxy S23"),
              ("아이패드 에어", "iPad Air"), ("에어팟 프로", "AirPods Pro"), ("맥북 에어", "MacBook Air"),
              ("애플워치", "Apple Watch"), ("갤럭시 버즈", "Galaxy Buds"))),
    _Category("appliances", 10, 60_000, (("에어프라이어", "air fryer"), ("전자레인지", "microwave"),
              ("공기청정기", "air purifier"), ("가습기", "humidifier"), ("무선청소기", "cordless vacuum"),
              ("선풍기", "electric fan"))),
    _Category("furniture", 10, 70_000, (("원목 식탁", "wooden dining table"), ("책상", "desk"),
              ("사무용 의자", "office chair"), ("수납장", "storage cabinet"), ("침대 프레임", "bed frame"),
              ("2인용 소파", "two-seater sofa"))),
    _Category("kids", 10, 30_000, (("유모차", "stroller"), ("카시트", "car seat"), ("아기띠", "baby carrier"),
              ("유아 전집", "children's book set"), ("아기 옷", "baby clothes"), ("원목 장난감", "wooden toys"))),
    _Category("womens_clothing", 12, 20_000, (("원피스", "dress"), ("니트", "knit sweater"), ("롱코트", "long coat"),
              ("청바지", "jeans"), ("블라우스", "blouse"))),
    _Category("mens_clothing", 7, 25_000, (("패딩", "padded jacket"), ("셔츠", "shirt"), ("정장", "suit"),
              ("후드티", "hoodie"), ("운동화", "sneakers"))),
    _Category("books", 6, 8_000, (("소설책", "novels"), ("수능 문제집", "exam workbooks"),
              ("만화책 세트", "comic book set"), ("영어 원서", "English paperbacks"))),
    _Category("sports", 8, 60_000, (("자전거", "bicycle"), ("캠핑 의자", "camping chair"), ("텐트", "tent"),
              ("골프채", "golf clubs"), ("요가매트", "yoga mat"), ("덤벨", "dumbbells"))),
    _Category("games", 7, 120_000, (("닌텐도 스위치", "Nintendo Switch"), ("플스5", "PS5"),
              ("보드게임", "board game"), ("레고", "LEGO set"))),
    _Category("beauty", 6, 20_000, (("향수", "perfume"), ("드라이기", "hair dryer"), ("고데기", "hair straightener"),
              ("화장품 세트", "cosmetics set"))),
    _Category("pets", 4, 20_000, (("캣타워", "cat tower"), ("강아지 옷", "dog clothes"), ("이동장", "pet carrier"),
              ("고양이 모래", "cat litter"))),
    _Category("plants", 2, 10_000, (("몬스테라", "monstera"), ("다육이", "succulents"), ("화분", "flower pot"))),
    _Category("etc", 4, 30_000, (("상품권", "gift card"), ("캐리어", "suitcase"), ("우산", "umbrella"),
              ("기프티콘", "mobile gift voucher"))),
)  # fmt: skip
_CATEGORY_BY_NAME = {c.name: c for c in _CATEGORIES}
_CATEGORY_CUMULATIVE = tuple(accumulate(c.weight for c in _CATEGORIES))
# Items the app forbids; they are listed under ordinary categories, so the category alone gives nothing away.
_PROHIBITED_ITEMS = (("전자담배", "e-cigarette", "etc"), ("양주", "whisky", "etc"), ("담배", "cigarettes", "etc"),
                     ("건강기능식품", "health supplements", "etc"), ("콘택트렌즈", "contact lenses", "beauty"),
                     ("다이어트약", "diet pills", "beauty"), ("에어소프트건", "airsoft gun", "sports"))  # fmt: skip

# Listing text is assembled from fragments. Wording a label leans on also turns up in listings with other labels
# ("급처", "정품", "택배"): a moderation model has to weigh words, not look them up.
_TITLE_SUFFIX = {
    "ko": ("팝니다", "판매해요", "급처", "거의 새것", "미개봉", "싸게 드려요", "정리해요", "상태 좋아요"),
    "en": ("for sale", "like new", "quick sale", "unopened", "cheap", "good condition"),
}
_CONDITION = {
    "ko": ("사용감 거의 없어요.", "생활기스 조금 있어요.", "박스 풀구성입니다.", "한두 번 사용했어요.",
           "이사 가면서 정리합니다.", "선물 받았는데 안 써서 팔아요.", "구매한 지 1년 됐어요.", "정품입니다."),
    "en": ("Barely used.", "A few small scratches.", "Comes with the original box.", "Used only a couple of times.",
           "Moving out, everything must go.", "Got it as a gift, never used.", "Bought it a year ago.", "Genuine."),
}  # fmt: skip
_TRADE = {
    "ko": ("직거래 원해요.", "역 근처에서 직거래 가능해요.", "택배 거래 가능합니다.", "네고 사절이에요.",
           "네고 가능해요.", "퇴근 후 저녁에 거래 가능해요."),
    "en": ("Pick-up only.", "Can meet near the station.", "Shipping possible.", "Price is firm.", "Open to offers.",
           "Can meet in the evening after work."),
}  # fmt: skip
_FREE = {"ko": "무료나눔", "en": "free"}
_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "spam": {
        "ko": ("최저가 보장", "도매가로 판매합니다", "대량 구매 문의 환영", "매일 신상 업데이트",
               "다른 상품도 많아요 프로필 확인", "오픈채팅으로 문의주세요", "여러 개 있어요"),
        "en": ("lowest price guaranteed", "wholesale prices", "bulk orders welcome", "new stock every day",
               "check my profile for more items", "ask me on open chat", "have several in stock"),
    },
    "scam": {
        "ko": ("카톡으로 연락주세요", "선입금 후 택배 발송해요", "오늘만 이 가격", "안전결제 링크 보내드려요",
               "지방 출장 중이라 택배만 가능", "급처 오늘만"),
        "en": ("message me on KakaoTalk", "pay first and I ship", "today only at this price",
               "I will send a safe payment link", "away on business, shipping only"),
    },
    "prohibited": {
        "ko": ("미개봉 정품", "해외 직구 제품", "처방전 필요 없어요", "정품 보장", "유통기한 넉넉해요"),
        "en": ("unopened, genuine", "bought overseas", "no prescription needed", "genuine guaranteed",
               "long expiry date"),
    },
    "abusive": {
        "ko": ("찔러보기 하면 차단합니다", "거지들 사절", "상식 없는 사람 연락하지 마세요",
               "말귀 못 알아들으면 연락 ㄴㄴ", "네고 물어보면 바로 차단"),
        "en": ("lowballers will be blocked, idiots", "don't waste my time, losers",
               "if you can't read, don't message me", "cheapskates stay away"),
    },
}  # fmt: skip
_BAD_LABELS = tuple(_CUES)
_CUE_P = 0.85  # a bad listing whose body uses its label's wording
_BORROWED_CUE_P = 0.12  # a normal listing whose body uses some bad label's wording
_TITLE_CUE_P = 0.3
_PHOTOS = {"normal": (1, 10), "spam": (1, 3), "scam": (0, 2), "prohibited": (1, 5), "abusive": (1, 6)}
_SCAM_DISCOUNT = (0.3, 0.6)  # too good to be true


def _three_days_ago() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=3)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same configuration always gives the same records."""

    seed: int = 7
    start: datetime = field(default_factory=_three_days_ago)  # time-zone aware; event times lie in [start, start+days)
    days: float = 1.0
    users: int = 2_000
    regions: int = 25
    late_share: float = 0.02  # of valid records: sent 1-6 hours after their event time
    duplicate_share: float = 0.01  # of all records: a producer retry re-sending an earlier record's exact bytes
    malformed_share: float = 0.005  # of all records: breaks the contract on purpose
    max_events: int | None = None  # stop after this many records of any kind

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"start {self.start} needs a time zone, e.g. datetime(2026, 11, 1, tzinfo=UTC)")
        if self.days <= 0 or self.users < 1 or self.regions < 1:
            raise ValueError(f"days, users and regions must be positive, got {self.days}, {self.users}, {self.regions}")
        shares = (self.late_share, self.duplicate_share, self.malformed_share)
        if not all(0 <= share < 1 for share in shares) or self.duplicate_share + self.malformed_share >= 1:
            raise ValueError(f"shares must lie in [0, 1) and duplicate + malformed below 1, got {shares}")
        if self.max_events is not None and self.max_events < 0:
            raise ValueError(f"max_events must be >= 0, got {self.max_events}")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record, as the app's producer sends it."""

    topic: str
    key: bytes
    value: bytes
    event_id: str | None  # None for malformed records
    kind: RecordKind


# Formatting a datetime per event would cost as much as the rest of the event: the clock caches the minute's
# prefix and looks the seconds and milliseconds up.
_SECONDS = tuple(f"{s:02d}." for s in range(60))
_MILLIS = tuple(f"{ms:03d}+09:00" for ms in range(1000))


class _Clock:
    """ISO 8601 in Seoul time, with milliseconds."""

    def __init__(self) -> None:
        self._minute = -1
        self._prefix = ""

    def format(self, t: float) -> str:
        minute, ms = divmod(int(t * 1000) + _SEOUL_MS, 60_000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        second, ms = divmod(ms, 1000)
        return f"{self._prefix}{_SECONDS[second]}{_MILLIS[ms]}"


class _Listing:
    __slots__ = ("category", "decided", "id", "label", "price", "region", "seller", "state")

    def __init__(self, listing_id: int, seller: int, region: int, category: str, price: int, label: str) -> None:
        self.id = listing_id
        self.seller = seller
        self.region = region
        self.category = category
        self.price = price
        self.label = label
        self.state = "active"  # -> reserved -> sold, or removed by moderation
        self.decided = False  # a moderation decision is made or scheduled


class _World:
    """The marketplace's state and the heap of what happens next. Actions take the time they run at."""

    def __init__(self, config: SimulationConfig) -> None:
        self._config = config
        # Worlds of one seed share their users (the first `config.users` ids, drawn from the seed alone); what happens
        # in them depends on the start too, and each world numbers what it creates in an id space of its own, so
        # simulations of different days or seeds can land in one lake without reusing an event, listing or user id.
        world = f"{config.seed}@{config.start.timestamp():.0f}"
        self._rng = Random(world)
        self._id_base = int.from_bytes(sha256(world.encode()).digest()[:4]) % _ID_SPACES * _ID_SPACE_SIZE
        self._start = config.start.timestamp()
        self._end = self._start + config.days * _DAY_S
        self._clock = _Clock()
        self._seq = count()
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._outbox: list[tuple[float, int, Record]] = []  # records waiting for their (later) send time
        self._ready: list[Record] = []
        # Chances per valid record; duplicates and malformed records are extra records, so their chances are scaled
        # up to make them their configured shares of *all* records.
        self._late_p = config.late_share
        valid_share = 1 - config.duplicate_share - config.malformed_share
        self._duplicate_p = config.duplicate_share / valid_share
        self._malformed_p = config.malformed_share / valid_share
        self._sessions_per_hour = _hour_of_week_rates()
        self._region_weights = list(accumulate(1 / (r + 1) ** 0.7 for r in range(config.regions)))  # a few big towns
        self._user_region = [0]  # by user id; ids start at 1
        self._user_lang = [""]
        self._user_activity: list[float] = []  # cumulative, for picking users in proportion to their activity
        population = Random(config.seed)
        for _ in range(config.users):
            self._add_user(population)
        self._feed: list[list[_Listing]] = [[] for _ in range(config.regions + 1)]  # by region, newest last
        self._by_category: dict[tuple[int, str], list[_Listing]] = {}
        self._ids = {name: count(self._id_base + 1) for name in ("listing", "chat", "transaction", "report")}
        self._schedule(self._start, self._session)

    def run(self) -> Iterator[Record]:
        heap, outbox, ready = self._heap, self._outbox, self._ready
        while heap:
            t, _, action, args = heappop(heap)
            while outbox and outbox[0][0] <= t:
                ready.append(heappop(outbox)[2])
            action(t, *args)
            yield from ready
            ready.clear()
        while outbox:
            yield heappop(outbox)[2]

    def _schedule(self, t: float, action: Callable[..., None], *args: Any) -> None:
        if t < self._end:  # what would happen after the simulated span never does
            heappush(self._heap, (t, next(self._seq), action, args))

    # --- users and sessions ---

    def _add_user(self, rng: Random) -> int:
        self._user_region.append(bisect(self._region_weights, rng.random() * self._region_weights[-1]) + 1)
        self._user_lang.append("en" if rng.random() < _EN_USER_P else "ko")
        activity = min(rng.paretovariate(_PARETO_ALPHA), _MAX_ACTIVITY)
        self._user_activity.append(activity + (self._user_activity[-1] if self._user_activity else 0.0))
        return len(self._user_activity)

    def _pick_user(self) -> int:
        return bisect(self._user_activity, self._rng.random() * self._user_activity[-1]) + 1

    def _session(self, t: float) -> None:
        rng = self._rng
        hour_of_week = int((t + _SEOUL_S) // 3600 + 72) % 168  # the epoch was a Thursday
        rate = self._sessions_per_hour[hour_of_week] * len(self._user_activity) / 3600
        self._schedule(t + rng.expovariate(rate), self._session)
        user = self._sign_up(t) if rng.random() < _SIGN_UP_P else self._pick_user()
        if rng.random() < _LIST_P:
            self._create_listing(t, user)
        self._feed_view(t, user)  # the app opens on the neighbourhood's feed
        at = t
        if rng.random() < _SEARCH_P:
            at += rng.uniform(2, 30)
            self._schedule(at, self._search, user)
        for _ in range(int(rng.expovariate(1 / _FEED_VIEWS_MEAN))):
            at += rng.uniform(3, 90)
            self._schedule(at, self._feed_view, user)

    def _sign_up(self, t: float) -> int:
        user = self._add_user(self._rng)
        platform = self._rng.choices(_PLATFORMS, cum_weights=_PLATFORM_CUMULATIVE)[0]
        self._emit(t, "user_signed_up", {"user_id": user, "region_id": self._user_region[user], "platform": platform})
        return user

    # --- listings ---

    def _create_listing(self, t: float, seller: int) -> None:
        rng = self._rng
        label = rng.choices(_LABELS, cum_weights=_LABEL_CUMULATIVE)[0]
        if label == "prohibited":
            item_ko, item_en, category_name = rng.choice(_PROHIBITED_ITEMS)
            category = _CATEGORY_BY_NAME[category_name]
        else:
            category = rng.choices(_CATEGORIES, cum_weights=_CATEGORY_CUMULATIVE)[0]
            item_ko, item_en = rng.choice(category.items)
        lang = self._user_lang[seller]
        free = label == "normal" and rng.random() < _FREE_P
        title, body = self._text(label, item_ko if lang == "ko" else item_en, lang, free)
        price = 0 if free else self._price(category, label)
        region = self._user_region[seller]
        listing = _Listing(next(self._ids["listing"]), seller, region, category.name, price, label)
        self._feed[region].append(listing)
        self._by_category.setdefault((region, category.name), []).append(listing)
        self._emit(
            t,
            "listing_created",
            {
                "listing_id": listing.id,
                "seller_id": seller,
                "region_id": region,
                "category": category.name,
                "title": title,
                "body": body,
                "price": price,
                "photo_count": rng.randint(*_PHOTOS[label]),
                "lang": lang,
            },
        )
        if rng.random() < _REVIEW_P:
            listing.decided = True
            self._schedule(t + rng.uniform(60, 3 * 3600), self._decide, listing)

    def _text(self, label: str, item: str, lang: str, free: bool) -> tuple[str, str]:
        rng = self._rng
        suffix = _FREE[lang] if free else rng.choice(_TITLE_SUFFIX[lang])
        parts = [rng.choice(_CONDITION[lang]), rng.choice(_TRADE[lang])]
        cue_label = label if label != "normal" else rng.choice(_BAD_LABELS)
        cue = rng.choice(_CUES[cue_label][lang])
        if rng.random() < (_BORROWED_CUE_P if label == "normal" else _CUE_P):
            parts.insert(rng.randrange(3), f"{cue[:1].upper()}{cue[1:]}.")
        if label != "normal" and rng.random() < _TITLE_CUE_P:
            suffix = cue
        return f"{item} {suffix}", " ".join(parts)

    def _price(self, category: _Category, label: str) -> int:
        rng = self._rng
        price = category.median_price * rng.lognormvariate(0, 0.5)
        if label == "scam":
            price *= rng.uniform(*_SCAM_DISCOUNT)
        return max(1_000, int(round(price, -3)))  # asking prices are round thousands of won

    # --- browsing, searching, chatting, buying ---

    def _feed_view(self, t: float, user: int) -> None:
        region = self._user_region[user]
        if self._rng.random() < _OTHER_REGION_P:
            region = region % self._config.regions + 1
        listing = self._pick_recent(self._feed[region])
        if listing is not None:
            self._view(t, user, listing, None)

    def _pick_recent(self, listings: list[_Listing]) -> _Listing | None:
        """Feeds and results are newest first, and people rarely scroll far."""
        if not listings:
            return None
        back = int(self._rng.expovariate(1 / 30))
        listing = listings[-1 - back] if back < len(listings) else self._rng.choice(listings)
        return None if listing.state == "removed" else listing

    def _search(self, t: float, user: int) -> None:
        rng = self._rng
        category = rng.choices(_CATEGORIES, cum_weights=_CATEGORY_CUMULATIVE)[0]
        query = rng.choice(category.items)[0 if self._user_lang[user] == "ko" else 1]
        region = self._user_region[user]
        results = self._by_category.get((region, category.name), [])
        search_id = self._uuid()
        self._emit(
            t,
            "search_performed",
            {
                "search_id": search_id,
                "user_id": user,
                "region_id": region,
                "query": query,
                "results_count": len(results),
            },
        )
        at = t
        for _ in range(min(len(results), int(rng.expovariate(1 / 1.5)))):
            at += rng.uniform(2, 60)
            self._schedule(at, self._search_view, user, results, search_id)

    def _search_view(self, t: float, user: int, results: list[_Listing], search_id: str) -> None:
        listing = self._pick_recent(results)
        if listing is not None:
            self._view(t, user, listing, search_id)

    def _view(self, t: float, user: int, listing: _Listing, search_id: str | None) -> None:
        fields: dict[str, object] = {"listing_id": listing.id, "user_id": user, "region_id": self._user_region[user]}
        if search_id is not None:
            fields["search_id"] = search_id
        self._emit(t, "listing_viewed", fields)
        if user == listing.seller:
            return
        rng = self._rng
        if listing.state == "active" and rng.random() < _CHAT_P[listing.label]:
            self._schedule(t + rng.uniform(10, 600), self._chat, listing, user)
        if rng.random() < _REPORT_P[listing.label]:
            self._schedule(t + rng.uniform(5, 120), self._report, listing, user)

    def _chat(self, t: float, listing: _Listing, buyer: int) -> None:
        chat_id = next(self._ids["chat"])
        self._emit(
            t,
            "chat_started",
            {"chat_id": chat_id, "listing_id": listing.id, "buyer_id": buyer, "seller_id": listing.seller},
        )
        messages = int(self._rng.expovariate(1 / _MESSAGES_MEAN)) + 1
        self._message(t, chat_id, listing, buyer, messages, True)

    def _message(self, t: float, chat_id: int, listing: _Listing, buyer: int, left: int, from_buyer: bool) -> None:
        rng = self._rng
        length = int(rng.lognormvariate(3, 0.8)) + 1
        self._emit(
            t,
            "message_sent",
            {"chat_id": chat_id, "sender_id": buyer if from_buyer else listing.seller, "length": length},
        )
        if left > 1:
            reply = rng.random() < 0.7  # usually the other side answers; sometimes the sender adds a line
            args = (chat_id, listing, buyer, left - 1, from_buyer != reply)
            self._schedule(t + rng.uniform(20, 1200), self._message, *args)
        elif listing.state == "active" and rng.random() < _RESERVE_P[listing.label]:
            self._schedule(t + rng.uniform(60, 3600), self._reserve, chat_id, listing, buyer)

    def _reserve(self, t: float, chat_id: int, listing: _Listing, buyer: int) -> None:
        if listing.state != "active":  # someone else was quicker
            return
        listing.state = "reserved"
        self._emit(
            t,
            "reservation_made",
            {"listing_id": listing.id, "buyer_id": buyer, "seller_id": listing.seller, "chat_id": chat_id},
        )
        rng = self._rng
        if rng.random() < _COMPLETE_P:
            self._schedule(t + rng.uniform(1800, _DAY_S), self._complete, listing, buyer)
        else:
            self._schedule(t + rng.uniform(3600, _DAY_S), self._cancel, listing)

    def _complete(self, t: float, listing: _Listing, buyer: int) -> None:
        if listing.state != "reserved":  # moderation removed it meanwhile
            return
        listing.state = "sold"
        price = round(listing.price * self._rng.choice((1.0, 1.0, 0.95, 0.9)), -3)  # some haggle at the door
        self._emit(
            t,
            "transaction_completed",
            {
                "transaction_id": next(self._ids["transaction"]),
                "listing_id": listing.id,
                "buyer_id": buyer,
                "seller_id": listing.seller,
                "price": int(price),
            },
        )

    def _cancel(self, t: float, listing: _Listing) -> None:
        if listing.state == "reserved":
            listing.state = "active"

    # --- moderation ---

    def _report(self, t: float, listing: _Listing, reporter: int) -> None:
        rng = self._rng
        fitting = _REASONS.get(listing.label)
        reason = fitting if fitting is not None and rng.random() < 0.7 else rng.choice(_ANY_REASON)
        self._emit(
            t,
            "report_filed",
            {
                "report_id": next(self._ids["report"]),
                "listing_id": listing.id,
                "reporter_id": reporter,
                "reason": reason,
            },
        )
        if not listing.decided:
            listing.decided = True
            self._schedule(t + rng.uniform(600, 6 * 3600), self._decide, listing)

    def _decide(self, t: float, listing: _Listing) -> None:
        rng = self._rng
        label = listing.label
        if rng.random() >= _DECISION_ACCURACY:  # moderators miss bad listings and flag innocent ones
            label = rng.choice(_BAD_LABELS) if label == "normal" else "normal"
        self._emit(
            t,
            "moderation_decided",
            {"listing_id": listing.id, "label": label, "moderator_id": rng.randint(1, _MODERATORS)},
        )
        if label != "normal" and listing.state in ("active", "reserved"):
            listing.state = "removed"

    # --- records ---

    def _uuid(self) -> str:
        h = self._rng.randbytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _emit(self, t: float, event_type: str, fields: dict[str, Any]) -> None:
        """Send the event now, or hours late; perhaps twice; perhaps with a broken sibling."""
        users = self._config.users
        for name in _USER_FIELDS[event_type]:  # users are list positions here; sign-ups get ids in the world's space
            if fields[name] > users:
                fields[name] += self._id_base - users
        event_id = self._uuid()
        event_time = self._clock.format(t)
        topic, key_field = _ROUTES[event_type]
        key = str(fields[key_field]).encode()
        record = Record(topic, key, _encode(event_id, event_type, event_time, fields), event_id, "valid")
        random = self._rng.random
        send_at = t
        if random() < self._late_p:
            send_at += self._rng.uniform(*_LATE_S)
            heappush(self._outbox, (send_at, next(self._seq), record))
        else:
            self._ready.append(record)
        if random() < self._duplicate_p:
            retry = Record(topic, key, record.value, event_id, "duplicate")
            heappush(self._outbox, (send_at + self._rng.uniform(*_RETRY_S), next(self._seq), retry))
        if random() < self._malformed_p:
            event = {"event_type": event_type, "event_time": event_time, "schema_version": CONTRACT.version, **fields}
            self._ready.append(Record(topic, key, self._break(event), None, "malformed"))

    def _break(self, event: dict[str, Any]) -> bytes:
        """One of five ways a buggy client breaks the contract; the broken event gets its own event_id."""
        rng = self._rng
        event = {"event_id": self._uuid(), **event}
        event_type = str(event["event_type"])
        how = rng.randrange(5)
        if how == 0:  # cut off mid-write: no JSON object is a prefix of another
            value = _ENCODER.encode(event).encode()
            return value[: -rng.randint(1, min(12, len(value) - 1))]
        if how == 1:  # not event_type: on a topic with a single event type the contract's decoder does not need it
            del event[rng.choice(_DROPPABLE_FIELDS[event_type])]
        elif how == 2:
            name = rng.choice(_INTEGER_FIELDS[event_type])
            event[name] = str(event[name])
        elif how == 3:
            event["event_type"] = rng.choice(_UNKNOWN_EVENT_TYPES)
        else:
            event["event_time"] = str(event["event_time"]).removesuffix("+09:00")
        return _ENCODER.encode(event).encode()


def _encode(event_id: str, event_type: str, event_time: str, fields: dict[str, Any]) -> bytes:
    """Compact JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it, three times as fast: the
    envelope's strings come from this module in a safe alphabet, and fields hold only integers and strings."""
    body = ",".join([f'"{k}":{v}' if v.__class__ is int else f'"{k}":{_quote(v)}' for k, v in fields.items()])
    envelope = f'"event_id":"{event_id}","event_type":"{event_type}","event_time":"{event_time}"'
    return f'{{{envelope},"schema_version":{CONTRACT.version},{body}}}'.encode()


def _hour_of_week_rates() -> list[float]:
    """Sessions per user per hour, by hour of the week from Monday 00:00 in Seoul."""
    mean = sum(_HOURLY) / 24 * sum(_WEEKLY) / 7
    per_hour = _SESSIONS_PER_USER_DAY / 24
    return [per_hour * _WEEKLY[h // 24] * _HOURLY[h % 24] / mean for h in range(168)]


def simulate(config: SimulationConfig) -> Iterator[Record]:
    """Records in send order (roughly event-time order, except late ones)."""
    records = _World(config).run()
    return records if config.max_events is None else islice(records, config.max_events)


@dataclass
class ProduceSummary:
    sent: int
    valid: int
    duplicates: int
    malformed: int
    topics: dict[str, int]
    seconds: float


def produce(settings: Settings, records: Iterable[Record], rate: float | None = None) -> ProduceSummary:
    """Send records to Kafka in order: as fast as possible (backfill), or paced to `rate` records/s (live).

    Topics must exist. Returns once every record is acknowledged by all in-sync replicas; raises if any was not.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive (records per second), got {rate}")
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        acks="all",
        enable_idempotence=True,  # the broker drops our own retries; duplicates in the data are the simulator's
        linger_ms=20,
        batch_size=1 << 20,
        compression_type="lz4" if has_lz4() else None,
    )
    kinds: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    failures: list[BaseException] = []
    started = time.monotonic()
    try:
        for sent, record in enumerate(records):
            if rate is not None:
                _wait_for_slot(started, sent, rate)
            producer.send(record.topic, key=record.key, value=record.value).add_errback(failures.append)
            kinds[record.kind] += 1
            topics[record.topic] += 1
        producer.flush()
        seconds = time.monotonic() - started
    finally:
        producer.close()
    total = kinds.total()
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {total} records were not delivered to {settings.kafka_servers}: {failures[0]}"
        ) from failures[0]
    return ProduceSummary(total, kinds["valid"], kinds["duplicate"], kinds["malformed"], dict(topics), seconds)


def _wait_for_slot(started: float, sent: int, rate: float) -> None:
    ahead = started + sent / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
