"""Registry names of the engine's actors: how actors address each other (never by ref)."""

from __future__ import annotations

LIMITER = "rate-limiter"
AUDIT = "audit"
LEADER_FEED = "leader-feed"
OPERATOR_MODES = "operator-modes"


def follower_name(follower: str) -> str:
    """The FollowerActor of account ``follower``."""
    return f"follower.{follower}"


def follower_feed_name(follower: str) -> str:
    """The FollowerFeedActor (order socket) of account ``follower``."""
    return f"follower-feed.{follower}"


def follower_supervisor_name(follower: str) -> str:
    return f"followers.{follower}"


def bracket_name(follower: str, leader_order_id: str) -> str:
    """The BracketLegActor of ``follower``'s copy of the leader's bracket ``leader_order_id``."""
    return f"bracket.{follower}.{leader_order_id}"
