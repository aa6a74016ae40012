"""The local stack: `sluice up`, `sluice status`, `sluice down`, all idempotent, all on loopback."""

from sluice.stack.process import StackError
from sluice.stack.stack import ServiceStatus, down, start_speed_track, status, up

__all__ = ["ServiceStatus", "StackError", "down", "start_speed_track", "status", "up"]
