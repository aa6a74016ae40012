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
_DECISION_ACCURACY = 0.99  # on bad listings, and on normal listings taken together
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
              ("애플워치", "Apple Watch"), ("갤럭시 버즈", "Galaxy Buds"), ("카메라 렌즈", "camera lens"),
              ("블루투스 스피커", "Bluetooth speaker"), ("모니터", "monitor"),
              ("기계식 키보드", "mechanical keyboard"))),
    _Category("appliances", 10, 60_000, (("에어프라이어", "air fryer"), ("전자레인지", "microwave"),
              ("공기청정기", "air purifier"), ("가습기", "humidifier"), ("무선청소기", "cordless vacuum"),
              ("선풍기", "electric fan"), ("커피머신", "coffee machine"), ("제습기", "dehumidifier"),
              ("전기밥솥", "rice cooker"))),
    _Category("furniture", 10, 70_000, (("원목 식탁", "wooden dining table"), ("책상", "desk"),
              ("사무용 의자", "office chair"), ("수납장", "storage cabinet"), ("침대 프레임", "bed frame"),
              ("2인용 소파", "two-seater sofa"), ("행거", "clothes rack"), ("전신거울", "full-length mirror"),
              ("책장", "bookshelf"))),
    _Category("kids", 10, 30_000, (("유모차", "stroller"), ("카시트", "car seat"), ("아기띠", "baby carrier"),
              ("유아 전집", "children's book set"), ("아기 옷", "baby clothes"), ("원목 장난감", "wooden toys"),
              ("아기 침대", "baby cot"), ("킥보드", "kick scooter"), ("바운서", "baby bouncer"))),
    _Category("womens_clothing", 12, 20_000, (("원피스", "dress"), ("니트", "knit sweater"), ("롱코트", "long coat"),
              ("청바지", "jeans"), ("블라우스", "blouse"), ("가디건", "cardigan"), ("트렌치코트", "trench coat"),
              ("가방", "handbag"))),
    _Category("mens_clothing", 7, 25_000, (("패딩", "padded jacket"), ("셔츠", "shirt"), ("정장", "suit"),
              ("후드티", "hoodie"), ("운동화", "sneakers"), ("바람막이", "windbreaker"), ("슬랙스", "slacks"),
              ("가죽 자켓", "leather jacket"))),
    _Category("books", 6, 8_000, (("소설책", "novels"), ("수능 문제집", "exam workbooks"),
              ("만화책 세트", "comic book set"), ("영어 원서", "English paperbacks"), ("자기계발서", "self-help books"),
              ("요리책", "cookbooks"))),
    _Category("sports", 8, 60_000, (("자전거", "bicycle"), ("캠핑 의자", "camping chair"), ("텐트", "tent"),
              ("골프채", "golf clubs"), ("요가매트", "yoga mat"), ("덤벨", "dumbbells"), ("런닝머신", "treadmill"),
              ("등산화", "hiking boots"), ("수영복", "swimsuit"))),
    _Category("games", 7, 120_000, (("닌텐도 스위치", "Nintendo Switch"), ("플스5", "PS5"), ("보드게임", "board game"),
              ("레고", "LEGO set"), ("게임 타이틀", "game cartridges"), ("조이콘", "Joy-Con controllers"),
              ("퍼즐", "jigsaw puzzle"))),
    _Category("beauty", 6, 20_000, (("향수", "perfume"), ("드라이기", "hair dryer"), ("고데기", "hair straightener"),
              ("화장품 세트", "cosmetics set"), ("립스틱", "lipstick"), ("네일 세트", "nail kit"),
              ("선크림", "sunscreen"))),
    _Category("pets", 4, 20_000, (("캣타워", "cat tower"), ("강아지 옷", "dog clothes"), ("이동장", "pet carrier"),
              ("고양이 모래", "cat litter"), ("자동 급식기", "automatic feeder"), ("강아지 방석", "dog cushion"))),
    _Category("plants", 2, 10_000, (("몬스테라", "monstera"), ("다육이", "succulents"), ("화분", "flower pot"),
              ("스투키", "snake plant"), ("올리브나무", "olive tree"))),
    _Category("etc", 4, 30_000, (("상품권", "gift card"), ("캐리어", "suitcase"), ("우산", "umbrella"),
              ("기프티콘", "mobile gift voucher"), ("와인잔 세트", "wine glass set"),
              ("주방칼 세트", "kitchen knife set"), ("텀블러", "tumbler"), ("캠핑 랜턴", "camping lantern"))),
)  # fmt: skip
_CATEGORY_BY_NAME = {c.name: c for c in _CATEGORIES}
_CATEGORY_CUMULATIVE = tuple(accumulate(c.weight for c in _CATEGORIES))
# Other ways Korean sellers write an item: English brand names, no spaces, slang. Each listing picks one spelling.
_ALIASES = {
    "아이폰 13": ("iPhone 13", "아이폰13", "ip13", "아이폰 13 128기가"),
    "갤럭시 S23": ("Galaxy S23", "갤s23", "S23 울트라"),
    "아이패드 에어": ("iPad Air", "아이패드에어", "패드 에어 5세대"),
    "에어팟 프로": ("AirPods Pro", "에어팟프로", "에팟프로"), "맥북 에어": ("MacBook Air", "맥북에어 M2", "맥에어"),
    "애플워치": ("Apple Watch", "애플워치 SE", "애플 워치"), "갤럭시 버즈": ("Galaxy Buds", "버즈2", "갤버즈"),
    "닌텐도 스위치": ("Nintendo Switch", "닌스", "스위치 OLED"),
    "플스5": ("PS5", "플레이스테이션5", "플스 5 디스크에디션"), "레고": ("LEGO", "레고 테크닉"),
    "무선청소기": ("다이슨 청소기", "무선 청소기"), "에어프라이어": ("에어 프라이어", "에프"),
    "사무용 의자": ("사무의자", "시디즈 의자"), "2인용 소파": ("2인 쇼파", "소파"), "유아 전집": ("아기 전집", "전집"),
    "패딩": ("롱패딩", "노스페이스 패딩", "숏패딩"), "운동화": ("나이키 운동화", "런닝화", "뉴발 운동화"),
    "캠핑 의자": ("캠핑의자", "헬리녹스 체어"), "골프채": ("골프 클럽", "드라이버"),
    "향수": ("딥티크 향수", "니치향수"), "고데기": ("매직기", "고대기"), "공기청정기": ("공청기", "공기 청정기"),
    "기프티콘": ("깊티", "스벅 기프티콘"), "원피스": ("롱원피스", "미니 원피스"),
    "커피머신": ("네스프레소", "캡슐 커피머신"), "카시트": ("카시트 isofix", "주니어 카시트"),
    "가방": ("숄더백", "에코백"), "청바지": ("데님 팬츠", "청바지 27"),
}  # fmt: skip
# Items the app forbids, with their kind; they are listed under ordinary categories, so the category alone gives
# nothing away. The camera lens, wine glasses and kitchen knives above are their harmless neighbours.
_PROHIBITED_ITEMS = (
    ("전자담배", "e-cigarette", "etc", "tobacco"), ("전자담배 액상", "vape liquid", "etc", "tobacco"),
    ("아이코스 기기", "IQOS device", "etc", "tobacco"), ("담배 한 보루", "carton of cigarettes", "etc", "tobacco"),
    ("말보로 레드", "Marlboro Reds", "etc", "tobacco"), ("양주", "whisky", "etc", "alcohol"),
    ("발렌타인 17년", "Ballantine's 17", "etc", "alcohol"),
    ("조니워커 블루", "Johnnie Walker Blue Label", "etc", "alcohol"), ("레드와인", "red wine", "etc", "alcohol"),
    ("전통주 선물세트", "traditional liquor gift set", "etc", "alcohol"),
    ("건강기능식품", "health supplements", "etc", "supplement"), ("홍삼정", "red ginseng extract", "etc", "supplement"),
    ("종합비타민", "multivitamins", "etc", "supplement"),
    ("다이어트 보조제", "diet supplements", "beauty", "supplement"), ("콘택트렌즈", "contact lenses", "beauty", "lens"),
    ("컬러렌즈", "coloured contact lenses", "beauty", "lens"),
    ("원데이 렌즈", "daily disposable lenses", "beauty", "lens"), ("다이어트약", "diet pills", "beauty", "medicine"),
    ("식욕억제제", "appetite suppressants", "beauty", "medicine"), ("삭센다", "Saxenda pens", "beauty", "medicine"),
    ("탈모약", "hair loss pills", "beauty", "medicine"), ("수면제", "sleeping pills", "etc", "medicine"),
    ("감기약", "cold medicine", "etc", "medicine"), ("스테로이드 연고", "steroid ointment", "beauty", "medicine"),
    ("에어소프트건", "airsoft gun", "sports", "weapon"), ("가스총", "gas pistol", "sports", "weapon"),
    ("석궁", "crossbow", "sports", "weapon"), ("전기충격기", "stun gun", "sports", "weapon"),
    ("삼단봉", "telescopic baton", "sports", "weapon"), ("잭나이프", "switchblade", "sports", "weapon"),
    ("보청기", "hearing aid", "etc", "device"), ("혈당측정기", "blood glucose meter", "etc", "device"),
    ("강아지 분양", "puppies to rehome", "pets", "animal"), ("고양이 분양", "kittens to rehome", "pets", "animal"),
)  # fmt: skip

# Listing text is assembled from parts: a title, then a body of optional openers, item lines, reasons, condition,
# price, trade terms, cues and closers, joined in one of several styles, with occasional emoji and typos. Parts are
# chosen, never generated, so a listing costs a few dozen random draws. The wording a bad label leans on turns up,
# harmlessly meant, in normal listings too ("급처", "정품", "택배", "카톡"): a model has to read meaning, not words.
_TITLE_PREFIX = {
    "ko": ("[급처]", "(급처)", "급처)", "[새상품]", "(미개봉)", "[정품]", "[직거래]", "[택포]", "[S급]", "💥", "✨",
           "[판매]", "(가격내림)", "[네고가능]", "★", "급매)", "[상태최상]", "가격인하!"),
    "en": ("[FS]", "SELLING:", "WTS", "(price drop)", "Brand new", "Like-new", "[Quick sale]", "✨", "Cheap", "Mint",
           "Moving sale:", "Genuine"),
}  # fmt: skip
_TITLE_SUFFIX = {
    "ko": ("팝니다", "판매해요", "판매합니다", "팔아요", "급처", "급처분", "거의 새것", "거의 새거", "새상품", "미개봉",
           "싸게 드려요", "정리해요", "상태 좋아요", "상태 굿", "S급", "A급", "풀박스", "팝니당", "팜", "판매",
           "내놔요", "처분합니다", "싸게 팔아요", "쿨거래", "급매", "네고 가능", "택포", "정품", "팜니다",
           "싸게 넘겨요"),
    "en": ("for sale", "like new", "quick sale", "unopened", "cheap", "good condition", "FS", "brand new", "must go",
           "barely used", "mint", "great deal", "OBO", "need gone", "selling", "excellent condition", "as new",
           "for cheap", "genuine", "like nwe"),
}  # fmt: skip
_FREE_TITLE = {
    "ko": ("무료나눔", "나눔", "드림", "나눔해요", "무나"),
    "en": ("free", "FREE", "giveaway", "free to good home"),
}
_OPENER = {
    "ko": ("안녕하세요", "안녕하세요~", "안녕하세요 이웃님들", "반갑습니다", "하이요", "급하게 올려요",
           "오랜만에 올려요", "이웃분들 안녕하세요", "ㅎㅇ", "정리하면서 올립니다", "글 잘 읽어주세요",
           "설명 참고해주세요", "안녕하세여", "물건 올려요"),
    "en": ("Hi", "Hello neighbours", "Hey all", "Hi everyone", "Hello", "Quick one", "Hi there", "Morning all",
           "Hey neighbors", "Hi, first post here"),
}  # fmt: skip
_INTRO = {
    "ko": ("{} 팝니다", "{} 판매해요", "{} 판매합니다", "{} 내놓아요", "{} 팔아요", "{} 정리합니다", "{} 필요하신 분",
           "{} 싸게 드려요", "{} 처분해요", "{} 가져가실 분 구해요", "{} 팜", "{} 판매합니당", "{} 새 주인 찾아요",
           "쓰던 {} 팔아요"),
    "en": ("Selling my {}", "{} for sale", "Up for grabs: {}", "Letting go of my {}", "Clearing out my {}",
           "Looking for a new home for my {}", "{} available", "My {} needs a new owner", "selling {}"),
}  # fmt: skip
_REASON = {
    "ko": ("이사 가게 돼서 정리해요", "이사 가면서 정리합니다", "선물 받았는데 안 써서 팔아요", "새로 사서 내놔요",
           "아기가 커서 안 써요", "집이 좁아서 정리해요", "중복 선물 받아서요", "잘 안 쓰게 돼서 팔아요",
           "해외 나가게 돼서 정리해요", "사이즈가 안 맞아서 팝니다", "취향이 바뀌어서요",
           "결혼하면서 살림 합쳐서 정리해요", "자리만 차지해서 내놔요", "기변해서 팔아요",
           "충동구매 했는데 안 쓰네요 ㅠㅠ", "와이프가 팔라고 해서요 ㅎㅎ", "회사 기념품으로 받은 거예요",
           "이사가면서 정리해여"),
    "en": ("Moving out, everything must go", "Got it as a gift, never used", "Upgraded, so this one has to go",
           "Kids outgrew it", "Not enough space in my flat", "Leaving Korea next month", "Wrong size for me",
           "Bought two by mistake", "Just don't use it anymore", "Impulse buy, regret it lol",
           "Clearing out before my lease ends", "Moving back home"),
}  # fmt: skip
_CONDITION = {
    "ko": ("사용감 거의 없어요", "생활기스 조금 있어요", "생활기스 있어요", "박스 풀구성입니다", "풀박스예요",
           "한두 번 사용했어요", "구매한 지 1년 됐어요", "정품입니다", "정품이에요", "상태 아주 좋아요",
           "기능 이상 없어요", "작동 잘 됩니다", "찍힘 없어요", "얼룩 조금 있어요", "세탁 완료했어요",
           "새거나 다름없어요", "거의 새거에요", "미개봉 새상품이에요", "택 그대로 있어요", "보증기간 남아 있어요",
           "하자 없음", "상태 S급", "A급 상태", "실사용 몇 번 안 했어요", "사용감 있어요 감안해주세요",
           "사진이 실물이에요", "오래됐지만 멀쩡해요", "스크래치 약간 있음", "사용감거의없어요", "상태 좋아요 ㅇㅇ",
           "깨끗하게 썼어요", "모서리 까짐 조금 있어요"),
    "en": ("Barely used", "A few small scratches", "Comes with the original box", "Used only a couple of times",
           "Bought it a year ago", "Genuine", "Works perfectly", "No dents or cracks", "Minor wear, see photos",
           "Washed and clean", "Tags still on", "Still under warranty", "Good as new", "Some signs of use",
           "What you see is what you get", "Like new condition", "Used for about a year", "Never used, still sealed",
           "Small stain, barely visible", "works fine, no issues", "in great shape", "Barley used"),
}  # fmt: skip
_PRICE_PHRASE = {
    "ko": ("{}에 팝니다", "{}에 드려요", "가격은 {}", "{} 생각하고 있어요", "{} (네고 가능)", "{}!!", "희망가격 {}",
           "{}에 가져가세요", "{} 네고X", "판매가 {}", "{}에 올려요", "딱 {} 받을게요", "{} 택포", "직거래 {}",
           "가격 {}", "{}에 급처해요"),
    "en": ("Asking {}", "{} or best offer", "Price: {}", "{}, firm", "Want {} for it", "{} obo", "Yours for {}",
           "Just {}", "{} and it's yours"),
}  # fmt: skip
_FREE_BODY = {
    "ko": ("무료나눔해요", "나눔합니다", "필요하신 분 가져가세요", "무료로 드려요", "공짜로 드려요 가져가실 분만",
           "드림합니다", "나눔이에요 문고리로 가져가세요"),
    "en": ("Free to a good home", "Giving it away for free", "Free, just come pick it up", "Free!",
           "No charge, just take it"),
}  # fmt: skip
_TRADE = {
    "ko": ("직거래 원해요", "역 근처에서 직거래 가능해요", "택배 거래 가능합니다", "네고 사절이에요", "네고 가능해요",
           "퇴근 후 저녁에 거래 가능해요", "ㅈㄱ만 해요", "직거래만 가능", "택배비 별도예요", "택포 가격이에요",
           "반값택배 가능", "편의점 택배로 보내드려요", "안전결제 가능해요", "주말에만 거래 가능해요",
           "문고리 거래 가능해요", "집 앞으로 오시면 돼요", "현금이나 계좌이체 둘 다 돼요", "직거래 시 현금 선호해요",
           "네고 조금 가능", "쿨거래 하시면 조금 빼드려요", "시간 맞춰서 연락주세요", "평일 저녁 7시 이후 가능",
           "빠른 거래 원해요", "오늘 내일 중 거래 원해요", "nego 가능", "직거래 OK 택배 OK", "택배는 착불이에요",
           "카톡 주시면 시간 맞춰볼게요", "급처라 빨리 가져가실 분"),
    "en": ("Pick-up only", "Can meet near the station", "Shipping possible", "Price is firm", "Open to offers",
           "Can meet in the evening after work", "Cash or bank transfer at pickup", "Cash on pickup please",
           "Can send by convenience-store parcel", "Shipping costs extra", "Weekends only", "Need it gone this week",
           "Quick sale, first come first served", "No holds", "Can leave it at my door for pickup",
           "Happy to ship within Korea", "nego ok", "Message me to set a time", "직거래 only", "Pick up asap please",
           "Can sort out a time on KakaoTalk"),
}  # fmt: skip
_MEET = {
    "ko": ("{}역 근처 직거래", "{} 쪽에서 만나요", "{}역 출구 앞에서 거래해요", "{} 근처 사시는 분 우선",
           "{} 직거래 가능"),
    "en": ("Can meet at {} station", "Pick up near {}", "Meet in {} only", "Based in {}, can meet nearby"),
}  # fmt: skip
_PLACES = {
    "ko": ("강남", "잠실", "홍대입구", "서현", "수원", "부평", "해운대", "신림", "노원", "판교", "합정", "건대입구",
           "왕십리", "동탄", "일산"),
    "en": ("Gangnam", "Itaewon", "Hongdae", "Jamsil", "Seongsu", "Pangyo", "Sinchon", "Yeouido", "Haeundae", "이태원"),
}  # fmt: skip
_CLOSER = {
    "ko": ("감사합니다", "감사합니다~", "연락주세요", "편하게 채팅주세요", "채팅 주세요 :)", "관심 있으시면 연락주세요",
           "좋은 하루 되세요", "ㄱㄱ", "ㄳ", "먼저 연락 주시는 분께 드려요", "찜 말고 채팅 부탁드려요",
           "궁금한 거 물어보세요", "쿨거래 환영", "많관부", "좋은 주인 만났으면 좋겠어요", "감사함니다",
           "문의 환영합니다"),
    "en": ("Thanks!", "Thanks for looking", "Message me if interested", "Feel free to ask questions",
           "First come, first served", "Have a nice day", "Cheers", "thx", "DM if interested",
           "Serious buyers only please", "감사합니다!", "Thanks, and have a good one"),
}  # fmt: skip
# How a seller joins the sentences and ends the last one (one style per listing), and a flourish on one sentence.
_SEPARATOR = {"ko": (". ", ". ", " ", "\n", "\n", "~ ", "! ", ".\n", ", ", "\n\n", "ㅎㅎ "),
              "en": (". ", "! ", "\n", ", ", ".\n", " - ", ". ", "\n\n")}  # fmt: skip
_END = {"ko": (".", "", "~", "!", "ㅎㅎ", "^^", " :)", "ㅎ", "!!", "~~"), "en": (".", "", "!", " :)", "!!", "...")}
_FLOURISH = {"ko": ("ㅎㅎ", "^^", "~~", "!!", "ㅋㅋ", "ㅎ", "ㅠ"), "en": ("!!", " :)", " lol", "!", " haha")}
_EMOJI = ("😊", "🙏", "👍", "✨", "💕", "🔥", "😁", "🥰", "📦", "💯", "🙂", "😭", "⭐", "🎁", "👀", "😅")
# Harmless wording that sounds like a bad label's: pickup times arranged on KakaoTalk, cash at the door, bundles,
# "non-smoking home", "no lowballers". Moderators' mistakes on normal listings mostly fall on these.
_LOOKALIKE: dict[str, dict[str, tuple[str, ...]]] = {
    "scam": {
        "ko": ("카톡으로 시간 약속 잡아요", "카톡 주시면 픽업 시간 맞춰드려요", "급처라 시세보다 싸게 올렸어요",
               "오늘 가져가시면 더 깎아드려요", "이번 주 안에 처분해야 해요", "안전결제로 택배 거래 가능해요",
               "직거래 때 현금으로 주세요", "현금 거래만 해요 직접 보고 사세요", "택배비만 주시면 택배도 괜찮아요",
               "급하게 돈이 필요해서 싸게 팔아요", "번호는 채팅으로 알려드릴게요 약속 잡을 때"),
        "en": ("Text me on KakaoTalk to set a pickup time", "Priced low for a quick sale",
               "Cash only, inspect before you pay", "Can ship with the app's safe payment",
               "Need it gone today, so it's cheap", "Pay when you see it", "I'll share my number in chat for pickup"),
    },
    "spam": {
        "ko": ("여러 개 사시면 깎아드려요", "같은 거 두 개 있어요", "다른 물건도 올려놨으니 구경하세요",
               "이사 정리라 물건 많아요 프로필 봐주세요", "묶음으로 가져가시면 할인해드려요", "1+1로 드려요",
               "사이즈별로 몇 개 있어요", "한꺼번에 사시면 택배비 아껴드려요"),
        "en": ("Have two of these", "Bundle discount if you take several", "Check my other listings, clearing out",
               "Buy both and save on shipping", "Lots of baby stuff listed, have a look", "Can do a bundle deal"),
    },
    "prohibited": {
        "ko": ("비흡연 가정이에요", "담배 냄새 없어요", "정품 미개봉이에요", "유통기한 넉넉해요", "해외 직구로 샀어요",
               "면세점에서 산 건데 안 써요", "선물 세트로 받았어요", "부모님 선물용으로 좋아요", "렌즈 깨끗해요"),
        "en": ("Non-smoking home", "No smoke smell", "Sealed and genuine", "Bought at duty free, never opened",
               "Imported from the US", "Long expiry date", "Great gift for your parents"),
    },
    "abusive": {
        "ko": ("찔러보기 사절이에요", "노쇼 하시면 차단할게요", "네고 문의는 사양할게요", "예의 있게 연락 부탁드려요",
               "상세 설명 먼저 읽어주세요", "무례한 분은 거래 안 해요", "답장 없으시면 다음 분께 넘길게요",
               "쿨거래 원해요 흥정 사절", "가격 내려달라는 문의 안 받아요", "약속 시간 꼭 지켜주세요"),
        "en": ("No lowball offers please", "No-shows will be blocked", "Please read the description first",
               "Please be polite", "Price is firm, no haggling", "If I don't hear back, it goes to the next person",
               "Please be on time"),
    },
}  # fmt: skip
# What makes a bad listing bad, said in many ways, some plain and some veiled: scams ask for money first or off the
# app, or are too good to be true; spam sells in bulk, advertises or links away; abuse insults the buyers.
_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "spam": {
        "ko": ("최저가 보장", "도매가로 판매합니다", "대량 구매 문의 환영", "매일 신상 업데이트",
               "다른 상품도 많아요 프로필 확인", "오픈채팅으로 문의주세요", "여러 개 있어요",
               "수량 넉넉해요 필요한 만큼 말씀하세요", "재고 100개 이상 보유", "업체 직영이라 가격 경쟁력 있어요",
               "사업자 있는 업체입니다 믿고 구매하세요", "색상별 사이즈별 다 있어요", "5개 이상 구매 시 추가 할인",
               "공장 직판 초특가", "도매 소매 모두 환영", "블로그 이웃 추가하시면 할인쿠폰 드려요",
               "인스타 팔로우하면 사은품 증정", "체험단 모집 중 DM 주세요", "부업 하실 분 모집 월 300 가능",
               "쇼핑몰 링크 프로필에 있어요", "매장 정리 떨이 판매", "같은 상품 수십 개 있어요",
               "신상 입고 알림 받으실 분 오픈톡 참여", "전 품목 무료배송 이벤트",
               "open.kakao.com/o/dealmall 들어오세요", "구매대행 문의 받아요", "ㄷㅁ가 문의 ㄱㄱ"),
        "en": ("lowest price guaranteed", "wholesale prices", "bulk orders welcome", "new stock every day",
               "check my profile for more items", "ask me on open chat", "have several in stock",
               "100+ units available", "factory direct, huge discount", "retailers and resellers welcome",
               "buy 5 or more for an extra discount", "all colours and sizes in stock",
               "follow our Instagram for coupons", "visit our online store, link in profile",
               "side job opportunity, earn 3M won a month", "free shipping on all items this week",
               "bit.ly/bestdeal77 for the full catalogue", "join our open chat for restock alerts"),
    },
    "scam": {
        "ko": ("카톡으로 연락주세요", "선입금 후 택배 발송해요", "입금 먼저 해주시면 바로 보내드려요",
               "입금 확인되면 송장번호 드릴게요", "오늘만 이 가격", "안전결제 링크 보내드려요",
               "네이버페이 안전거래 링크로 결제해주세요", "지방 출장 중이라 택배만 가능", "직거래는 어렵고 택배만 돼요",
               "시세 절반 가격에 급하게 넘겨요", "먼저 입금하시는 분께 드립니다", "예약금 먼저 보내주시면 킵해드려요",
               "계좌번호 알려드릴게요 입금 부탁드려요", "해외 체류 중이라 배대지로 보내드려요",
               "텔레그램으로 연락 주세요", "새 제품인데 반값도 안 받아요", "급전 필요해서 원가 이하로 처분",
               "앱 채팅 잘 안 봐요 문자로 연락주세요", "여기 채팅 말고 카톡 ㄱㄱ", "선입금 ㄱㄴ하신 분만",
               "계좌이체만 받아요 직거래 ㄴㄴ", "입금하시면 당일 발송 약속드려요",
               "가격 말도 안 되게 싸죠? 빨리 가져가세요", "물건 확인은 영상통화로 해드려요", "반품 환불 불가 선입금만",
               "결제는 제가 보내드리는 링크로만 가능해요", "직접 보긴 어렵고 사진으로 확인하세요"),
        "en": ("message me on KakaoTalk", "pay first and I ship", "send the money and I'll post it today",
               "today only at this price", "I will send a safe payment link", "away on business, shipping only",
               "half the market price, need cash fast", "deposit first to reserve it", "bank transfer only, no meetups",
               "first to transfer gets it", "I'm overseas, will ship by courier", "contact me on Telegram",
               "text me on WhatsApp, I don't check this app", "brand new, way below retail",
               "don't use the app chat, add me on Kakao", "payment through my link only",
               "can't meet in person, I can do a video call", "no refunds, payment up front"),
    },
    "prohibited": {
        "ko": ("해외 직구 제품이에요", "정품 보장", "미개봉 정품", "성인만 연락주세요", "신분증 확인 없이 거래해요",
               "조용히 거래하실 분", "원래 여기 올리면 안 되는 건데 급해서요", "문제 생겨도 책임 안 져요",
               "사진은 일부러 흐리게 올렸어요", "검색 안 되게 이름 바꿔서 올려요"),
        "en": ("bought overseas", "genuine guaranteed", "unopened, genuine", "adults only", "no ID check",
               "discreet deal please", "I know it's not really allowed here", "no questions asked"),
    },
    "abusive": {
        "ko": ("찔러보기 하면 차단합니다 거지들아", "거지들 사절", "상식 없는 사람 연락하지 마세요",
               "말귀 못 알아들으면 연락 ㄴㄴ", "네고 물어보면 바로 차단 ㅗ", "가격 보고도 네고하는 ㅂㅅ들 꺼져",
               "개념 없는 진상들 사절", "돈 없으면 사지 마 ㅉㅉ", "글도 안 읽고 질문하는 사람 지능 의심됨",
               "거지 근성 진짜 역겹다", "어제 노쇼한 놈 보고 있냐 양심 좀", "답장 느린 것들 진짜 짜증나",
               "호구 찾지 마세요 ㅋㅋ", "한심한 인간들 왜 이렇게 많냐", "시간 낭비시키면 가만 안 둠", "네고충 극혐 🤬",
               "초딩 같은 질문 사절", "뇌가 있으면 상세설명 읽어라", "싼 거 찾을 거면 다이소나 가세요",
               "문의하는 꼬라지 하고는", "또 찔러보면 신고함 ㅡㅡ 진짜 미친", "멍청한 질문 받기 싫음",
               "이 가격에 깎아달라는 사람들 수준 ㅉㅉ", "매너 없는 분들은 그냥 꺼져주세요", "그지들 좀 꺼져줄래",
               "쪼잔하게 몇천원 가지고 그러지 마라 😡", "님 같은 사람한테는 안 팔아요 ㅋ"),
        "en": ("lowballers will be blocked, idiots", "don't waste my time, losers",
               "if you can't read, don't message me", "cheapskates stay away", "broke people need not apply",
               "stupid questions get you blocked", "no-shows are scum", "learn to read before asking, morons",
               "asking for a discount? pathetic", "go to a dollar store if you're that cheap",
               "seriously, people on this app are so dumb", "don't be a beggar", "if you haggle you're a clown 🤡",
               "ugh, the idiots here 😡", "shut up and pay the price", "I'll report every time-waster, try me",
               "you people are the worst"),
    },
}  # fmt: skip
# A forbidden item's own tell, by kind: it comes with the item, so it also names what is being sold.
_ITEM_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "tobacco": {
        "ko": ("니코틴 함량 높은 거예요", "한 보루 통째로 드려요", "액상 여러 병 같이 드려요", "면세점에서 산 담배예요",
               "팟 새거 포함", "흡연자분들께 추천"),
        "en": ("high nicotine", "whole carton, unopened", "comes with spare pods", "duty-free cigarettes",
               "for smokers"),
    },
    "alcohol": {
        "ko": ("면세점에서 사 온 술이에요", "도수 40도짜리", "개봉 안 한 술이라 맛 보장", "위스키 좋아하시는 분께",
               "명절 선물로 받은 술이에요", "마시기 아까워서 팔아요"),
        "en": ("duty-free bottle", "40% ABV", "sealed bottle", "for whisky lovers", "holiday gift, I don't drink"),
    },
    "supplement": {
        "ko": ("하루 한 포씩 드시면 돼요", "직구한 거라 성분 좋아요", "먹다 남은 거 아니고 새거", "면역력에 좋아요",
               "한 통 다 못 먹어서 팔아요"),
        "en": ("one sachet a day", "imported, better ingredients", "unopened, not leftovers", "boosts immunity"),
    },
    "lens": {
        "ko": ("도수 -3.00 안 쓴 거 남았어요", "착용 안 한 새 렌즈", "난시용이에요", "한 달용 6박스",
               "눈에 잘 맞았어요"),
        "en": ("power -3.00, never worn", "unworn lenses", "toric for astigmatism", "six boxes of monthlies"),
    },
    "medicine": {
        "ko": ("처방전 없이 드려요", "병원에서 처방받은 건데 남아서 팔아요", "약국보다 훨씬 싸요",
               "전문의약품이라 구하기 힘든 거예요", "하루 한 알씩 드시면 돼요", "효과 직접 봤어요 한 달에 5키로 빠짐"),
        "en": ("no prescription needed", "leftover from my prescription", "cheaper than the pharmacy",
               "prescription-only, hard to get", "one pill a day", "worked for me, lost 5kg"),
    },
    "weapon": {
        "ko": ("BB탄 천 발 같이 드려요", "호신용으로 딱이에요", "날 길이 12cm예요", "위력 세요", "개조 가능해요",
               "쏴보면 파워 좋아요"),
        "en": ("comes with 1000 BBs", "great for self-defence", "12cm blade", "really powerful", "can be modified"),
    },
    "device": {
        "ko": ("의료기기라 새거 비싸요", "몇 번 안 썼어요 측정 잘 돼요", "처방 받아서 샀던 거예요"),
        "en": ("medical device, pricey new", "readings are accurate", "bought on prescription"),
    },
    "animal": {
        "ko": ("젖 뗀 지 얼마 안 됐어요", "1차 접종 완료", "분양비 받아요", "엄마 아빠 다 있어요 사진 참고"),
        "en": ("just weaned", "first vaccination done", "rehoming fee applies", "parents can be seen"),
    },
}  # fmt: skip
# Spam lists the shop's other stock; scams move the buyer to a phone number or a messenger id.
_STOCK = {"ko": ("{} 다 있어요", "{} 등 재고 보유", "{} 전부 판매중"), "en": ("Also in stock: {}", "{} all available")}
_MESSENGER = {"ko": ("카톡 ID {}", "카톡 아이디 {} 추가해주세요", "카톡 {} 로 연락주세요", "텔레 {}"),
              "en": ("Kakao ID {}", "add me on Kakao: {}", "Telegram: {}")}  # fmt: skip
_PHONE = {"ko": ("문자 주세요 {}", "연락처 {}", "{} 로 문자요"), "en": ("text {}", "call me on {}")}
_HANDLES = ("deal", "happy", "sell", "minsu", "jiwoo", "best", "lucky", "fast", "shop", "kim")
# Prices written in the text, as people write them: 3만원, 3.5만, 35,000원, ₩35000, 35k.
_WON = {
    "ko": ("{man}만원", "{man}만원", "{man}만", "{comma}원", "{comma}원", "{plain}원", "₩{comma}", "₩{plain}"),
    "ko_odd": ("{man}만원", "{m}만 {c}천원", "{man}만", "{comma}원", "{comma}원", "{plain}원", "₩{comma}", "₩{plain}"),
    "ko_small": ("{k}천원", "{comma}원", "{plain}원", "₩{comma}"),  # under 10,000 won
    "en": ("{comma} won", "{comma} won", "₩{comma}", "{k}k", "{k}k won", "KRW {comma}", "₩{plain}"),
}  # fmt: skip
_BAD_LABELS = tuple(_CUES)
_CUE_P = {"spam": 0.97, "scam": 0.97, "prohibited": 0.6, "abusive": 0.97}  # the item itself tells on prohibited ones
_SECOND_CUE_P = 0.3
_EXTRA_P = 0.3  # spam listing the shop's stock, scam giving a contact
_LOOKALIKE_P = 0.2  # a normal listing that borrows some bad label's sound
# Moderators' false alarms fall mostly on normal listings that sound bad: such a listing is flagged, with the label it
# sounds like, this often; other normal listings less often, so that normal ones as a whole are still judged right
# _DECISION_ACCURACY of the time.
_LOOKALIKE_ERROR = 0.035
_PLAIN_ERROR = (1 - _DECISION_ACCURACY - _LOOKALIKE_P * _LOOKALIKE_ERROR) / (1 - _LOOKALIKE_P)
_TITLE_CUE_P = 0.3
_ALIAS_P = 0.4
_OPENER_P, _INTRO_P, _REASON_P, _CONDITION_P, _CLOSER_P = 0.4, 0.6, 0.35, 0.8, 0.5
_PRICE_P = 0.45  # the asking price written in the body too
_SECOND_TRADE_P = 0.25
_MEET_P = 0.2
_FLOURISH_P = 0.3
_EMOJI_P = 0.15
_TYPO_P = 0.12
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
    __slots__ = ("category", "decided", "id", "label", "lookalike", "price", "region", "seller", "state")

    def __init__(
        self, listing_id: int, seller: int, region: int, category: str, price: int, label: str, lookalike: str
    ) -> None:
        self.id = listing_id
        self.seller = seller
        self.region = region
        self.category = category
        self.price = price
        self.label = label
        self.lookalike = lookalike  # the bad label a normal listing's wording sounds like, or ""
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
        kind = ""
        if label == "prohibited":
            item_ko, item_en, category_name, kind = rng.choice(_PROHIBITED_ITEMS)
            category = _CATEGORY_BY_NAME[category_name]
        else:
            category = rng.choices(_CATEGORIES, cum_weights=_CATEGORY_CUMULATIVE)[0]
            item_ko, item_en = rng.choice(category.items)
        lang = self._user_lang[seller]
        free = label == "normal" and rng.random() < _FREE_P
        price = 0 if free else self._price(category, label)
        item = item_ko if lang == "ko" else item_en
        title, body, lookalike = self._text(label, item, lang, price, category, kind)
        region = self._user_region[seller]
        listing = _Listing(next(self._ids["listing"]), seller, region, category.name, price, label, lookalike)
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

    def _text(
        self, label: str, item: str, lang: str, price: int, category: _Category, kind: str
    ) -> tuple[str, str, str]:
        """Title, body, and the bad label a normal listing's wording sounds like ("" if none)."""
        rng = self._rng
        random, choice = rng.random, rng.choice
        name = item
        if lang == "en":
            if random() < 0.15:
                name = item.lower()
        elif item in _ALIASES and random() < _ALIAS_P:
            name = choice(_ALIASES[item])
        lookalike = ""
        if label != "normal":
            cues = self._cues(label, lang, category, kind)
        elif random() < _LOOKALIKE_P:
            lookalike = choice(_BAD_LABELS)
            cues = [choice(_LOOKALIKE[lookalike][lang])]
        else:
            cues = []
        return self._title(name, lang, price, cues), self._body(name, lang, price, cues), lookalike

    def _cues(self, label: str, lang: str, category: _Category, kind: str) -> list[str]:
        """What gives a bad listing away: one or two of its label's phrases, a forbidden item's own tell, the shop's
        other stock, a contact off the app."""
        rng = self._rng
        random, choice = rng.random, rng.choice
        cues = []
        if random() < _CUE_P[label]:
            cues.append(choice(_ITEM_CUES[kind][lang] if kind and random() < 0.6 else _CUES[label][lang]))
            if random() < _SECOND_CUE_P:
                cue = choice(_CUES[label][lang])
                if cue != cues[0]:
                    cues.append(cue)
        if label in ("spam", "scam") and random() < _EXTRA_P:
            if label == "spam":
                names = ", ".join(pair[lang == "en"] for pair in rng.sample(category.items, 3))
                cues.append(choice(_STOCK[lang]).format(names))
            elif random() < 0.5:
                cues.append(choice(_MESSENGER[lang]).format(f"{choice(_HANDLES)}{rng.randrange(10, 1000)}"))
            else:
                cues.append(choice(_PHONE[lang]).format(f"010-{rng.randrange(1000, 10000)}-{rng.randrange(10000):04d}"))
        return cues

    def _title(self, name: str, lang: str, price: int, cues: list[str]) -> str:
        rng = self._rng
        random, choice = rng.random, rng.choice
        if cues and random() < _TITLE_CUE_P:
            return f"{name} {cues[0]}"
        if price == 0:
            return f"{name} {choice(_FREE_TITLE[lang])}"
        r = random()
        if r < 0.45:
            title = f"{name} {choice(_TITLE_SUFFIX[lang])}"
        elif r < 0.65:
            title = f"{choice(_TITLE_PREFIX[lang])} {name}"
        elif r < 0.8:
            title = f"{choice(_TITLE_PREFIX[lang])} {name} {choice(_TITLE_SUFFIX[lang])}"
        elif r < 0.92:
            title = f"{name} {self._won(price, lang)}"
        else:
            title = name
        return f"{title} {choice(_EMOJI)}" if random() < _EMOJI_P / 2 else title

    def _body(self, name: str, lang: str, price: int, cues: list[str]) -> str:
        rng = self._rng
        random, choice = rng.random, rng.choice
        parts = self._description(name, lang, price)
        parts.append(self._trade(lang))
        if random() < _SECOND_TRADE_P:
            parts.append(self._trade(lang))
        for cue in cues:
            parts.insert(rng.randrange(1, len(parts) + 1), cue)  # after the opening line, which sets the tone
        if random() < _CLOSER_P:
            parts.append(choice(_CLOSER[lang]))
        if random() < _FLOURISH_P:
            i = rng.randrange(len(parts))
            parts[i] += choice(_FLOURISH[lang])
        body = choice(_SEPARATOR[lang]).join(parts) + choice(_END[lang])
        if random() < _EMOJI_P:
            body = f"{body} {choice(_EMOJI)}"
        return self._typo(body) if random() < _TYPO_P else body

    def _description(self, name: str, lang: str, price: int) -> list[str]:
        rng = self._rng
        random, choice = rng.random, rng.choice
        parts = []
        if random() < _OPENER_P:
            parts.append(choice(_OPENER[lang]))
        if random() < _INTRO_P:
            parts.append(choice(_INTRO[lang]).format(name))
        if random() < _REASON_P:
            parts.append(choice(_REASON[lang]))
        if random() < _CONDITION_P:
            parts.append(choice(_CONDITION[lang]))
        if price == 0:
            parts.append(choice(_FREE_BODY[lang]))
        elif random() < _PRICE_P:
            parts.append(choice(_PRICE_PHRASE[lang]).format(self._won(price, lang)))
        return parts

    def _trade(self, lang: str) -> str:
        choice = self._rng.choice
        if self._rng.random() < _MEET_P:
            return choice(_MEET[lang]).format(choice(_PLACES[lang]))
        return choice(_TRADE[lang])

    def _won(self, price: int, lang: str) -> str:
        m, rest = divmod(price, 10_000)
        key = lang if lang == "en" else "ko_small" if not m else "ko_odd" if rest else "ko"
        return self._rng.choice(_WON[key]).format(
            man=f"{price / 10_000:g}", m=m, c=rest // 1_000, k=price // 1_000, comma=f"{price:,}", plain=price
        )

    def _typo(self, text: str) -> str:
        """One slip of the thumb: two characters swapped, one dropped or doubled, or a space left out."""
        rng = self._rng
        i = rng.randrange(len(text) - 1)
        if any(c.isdigit() for c in text[max(i - 1, 0) : i + 2]):  # sellers check their numbers: prices stay right
            return text
        how = rng.randrange(4)
        if how == 0:
            return f"{text[:i]}{text[i + 1]}{text[i]}{text[i + 2 :]}"
        if how == 1:
            return text[:i] + text[i + 1 :]
        if how == 2:
            return text[: i + 1] + text[i:]
        space = text.find(" ", i)
        return text if space < 0 else text[:space] + text[space + 1 :]

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
        if label != "normal":
            if rng.random() >= _DECISION_ACCURACY:  # moderators miss a few bad listings
                label = "normal"
        elif rng.random() < (_LOOKALIKE_ERROR if listing.lookalike else _PLAIN_ERROR):  # and flag a few innocent ones
            label = listing.lookalike or rng.choice(_BAD_LABELS)
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
