-- mart_chat_engagement: how lively the day's new chats are, per category: messages per chat, how many sellers
-- answered, and how fast. Follows the chats started on dt through the messages sent the same UTC day.
with

chats as (
    select
        c.chat_id,
        c.buyer_id,
        c.seller_id,
        coalesce(c.category, 'unknown') as category,
        c.started_at
    from fct_chats as c
    where c.dt = :ds
),

messages as (
    select
        m.chat_id,
        m.sender_id,
        m.length,
        m.event_time as sent_at
    from stg_messages as m
    where m.dt = :ds
),

chat_stats as (
    select
        ch.chat_id,
        ch.category,
        count(me.chat_id) as messages,
        count(case when me.sender_id = ch.buyer_id then 1 end) as buyer_messages,
        count(case when me.sender_id = ch.seller_id then 1 end) as seller_messages,
        sum(me.length) as characters,
        (unix_millis(min(case when me.sender_id = ch.seller_id then me.sent_at end)) - unix_millis(ch.started_at))
            / 60000 as minutes_to_seller_reply
    from chats as ch
    left join messages as me
        on ch.chat_id = me.chat_id
    group by ch.chat_id, ch.category, ch.started_at
),

by_category as (
    select
        cs.category,
        count(*) as chats_started,
        sum(cs.messages) as messages,
        sum(cs.buyer_messages) as buyer_messages,
        sum(cs.seller_messages) as seller_messages,
        count(case when cs.seller_messages > 0 then 1 end) as chats_with_seller_reply,
        percentile_approx(cs.minutes_to_seller_reply, 0.5) as median_minutes_to_seller_reply,
        sum(cs.characters) as characters
    from chat_stats as cs
    group by cs.category
)

select
    bc.category,
    bc.chats_started,
    bc.messages,
    bc.buyer_messages,
    bc.seller_messages,
    bc.messages / nullif(bc.chats_started, 0) as messages_per_chat,
    bc.chats_with_seller_reply,
    bc.chats_with_seller_reply / nullif(bc.chats_started, 0) as seller_reply_rate,
    bc.median_minutes_to_seller_reply,
    bc.characters / nullif(bc.messages, 0) as avg_message_length,
    :ds as dt
from by_category as bc
