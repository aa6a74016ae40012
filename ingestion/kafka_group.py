"""A fix for kafka-python 3.0's group join, applied by the sink: a join that finished between two polls is used.

`BaseCoordinator.join_group_async` keeps a JoinGroup/SyncGroup round trip in flight when a `poll(timeout_ms=...)`
stops waiting for it, so that the next poll waits on the same one. But it starts a new JoinGroup when it finds that
round trip done (`if self._join_task is None or self._join_task.is_done`), also when it succeeded. From the group's
leader a JoinGroup starts another rebalance; the other members hear of it at their next heartbeat and join again,
which takes seconds, so the leader's next join again ends between two of its 200 ms polls. Two sink workers under
load did that for minutes (a generation every 3 s, nothing consumed); the DEBUG log of kafka.coordinator showed the
leader's SyncGroup answered, then a JoinGroup of its own 20 ms later without a word from the broker.

The fix finishes a join that succeeded as `join_group_async` itself does when it waits the round trip out.
"""

from __future__ import annotations

from typing import Any

from kafka.coordinator.base import BaseCoordinator
from kafka.structs import MemberState

_join_group_async = BaseCoordinator.join_group_async


async def _join_group_async_using_a_finished_join(self: Any, timeout_ms: int | None = None) -> bool:
    task = self._join_task
    if task is None or not task.succeeded():
        return bool(await _join_group_async(self, timeout_ms=timeout_ms))
    self._join_task = None
    with self._lock:
        self.rejoining = False
        self.rejoin_needed = False
        self.state = MemberState.STABLE
        self._enable_heartbeat()
    generation = self._generation
    await self._on_join_complete_async(generation.generation_id, generation.member_id, generation.protocol, task.value)
    return True


def use_finished_joins() -> None:
    BaseCoordinator.join_group_async = _join_group_async_using_a_finished_join  # type: ignore[method-assign]
