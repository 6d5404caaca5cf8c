"""The leader's position conversions, noticed from its positions (pure).

``POST /positions/convert`` moves a position from one product to another (INTRADAY -> CNC to
carry it overnight, say) with no order and no socket frame, so the engine sees it only as a
difference between the leader's journaled positions and the broker's at a position check: the
same instrument's position grew in one product by what it shrank in another, with no fill to
explain it. :func:`detect` finds those; :func:`follower_quantity` sizes a follower's part as an
exit is sized (``actors.exit_sizing``): the proportion of the follower's position in the source
product, all of it when the leader converted all of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from actors import exit_sizing
from store.records import PositionCheck, PositionKey


@dataclass(frozen=True, slots=True)
class Conversion:
    """The leader converted ``quantity`` of its ``position_type`` position from one product to
    another; it held ``leader_open`` in the source product before."""

    exchange_segment: str
    security_id: str
    from_product: str
    to_product: str
    position_type: str  #: "LONG" or "SHORT"
    quantity: int
    leader_open: int

    @property
    def source(self) -> PositionKey:
        return PositionKey(self.exchange_segment, self.security_id, self.from_product)

    def ident(self, seen_at: str) -> str:
        """A short id for this conversion seen at ``seen_at`` (the follower's journal mark)."""
        text = "|".join(
            (
                self.exchange_segment,
                self.security_id,
                self.from_product,
                self.to_product,
                self.position_type,
                str(self.quantity),
                str(self.leader_open),
                seen_at,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def detect(checks: Sequence[PositionCheck]) -> list[Conversion]:
    """Conversions explaining the leader's position differences.

    Per instrument: exactly two products differ, by opposite amounts, and the source product's
    position shrank toward zero without changing sign (a conversion never opens a position the
    other way). Anything else (one product differs: a fill the journal has not seen yet; three)
    is not taken for a conversion.
    """
    by_instrument: dict[tuple[str, str], list[PositionCheck]] = defaultdict(list)
    for c in checks:
        if c.broker_qty != c.journal_qty:
            by_instrument[(c.key.exchange_segment, c.key.security_id)].append(c)
    found: list[Conversion] = []
    for (segment, security), diffs in sorted(by_instrument.items()):
        if len(diffs) != 2:
            continue
        a, b = diffs
        if a.broker_qty - a.journal_qty != -(b.broker_qty - b.journal_qty):
            continue
        source, target = (a, b) if abs(a.broker_qty) < abs(a.journal_qty) else (b, a)
        if source.journal_qty == 0 or source.broker_qty * source.journal_qty < 0:
            continue
        moved = abs(source.journal_qty - source.broker_qty)
        if (target.broker_qty - target.journal_qty) * source.journal_qty <= 0:
            continue  # the target must move the same way the source held
        found.append(
            Conversion(
                exchange_segment=segment,
                security_id=security,
                from_product=source.key.product_type,
                to_product=target.key.product_type,
                position_type="LONG" if source.journal_qty > 0 else "SHORT",
                quantity=moved,
                leader_open=abs(source.journal_qty),
            )
        )
    return found


def follower_quantity(conversion: Conversion, follower_net: int, lot: int) -> int:
    """How much of a follower's position (``follower_net`` in the source product, signed) to
    convert: its proportion of the leader's, all of it when the leader converted all; 0 when the
    follower holds nothing on that side."""
    held = follower_net if conversion.position_type == "LONG" else -follower_net
    return exit_sizing.follower_close(conversion.quantity, conversion.leader_open, held, lot)


#: The journal marks of a follower's conversions (``Journal.marks(follower, CONVERSION_MARK)``):
#: ``conversion:<ident>`` -> the JSON of a :class:`FollowerConversion`.
CONVERSION_MARK = "conversion:"

#: A follower conversion's states: planned by the leader feed, sent (or about to be) by the
#: follower, then done, refused by the broker, or unknown (a crash or a lost answer while it
#: was sent: never sent again; the drift report shows whether it took effect).
PLANNED, SENDING, DONE, REFUSED, UNKNOWN = "PLANNED", "SENDING", "DONE", "REFUSED", "UNKNOWN"


@dataclass(frozen=True, slots=True)
class FollowerConversion:
    """One follower's part of a leader conversion, as journaled (a mark)."""

    exchange_segment: str
    security_id: str
    from_product: str
    to_product: str
    position_type: str
    quantity: int
    state: str = PLANNED
    detail: str = ""

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> FollowerConversion:
        """The mark's value; ``ValueError`` when it is not one (a damaged mark)."""
        try:
            data = json.loads(text)
            return cls(**data)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a follower conversion: {text[:80]!r}") from exc


def plan(
    conversions: Sequence[Conversion],
    nets: Mapping[str, Mapping[PositionKey, int]],
    lot_of: Callable[[str, str], int],
    seen_at: str,
) -> dict[str, dict[str, str]]:
    """Each follower's conversions (mark name -> value) for the leader's ``conversions``.

    ``nets``: follower -> its journaled net per key (before any of them); ``lot_of(segment,
    security)``: the lot size (1 for equity). A follower with nothing to convert gets no mark.
    """
    marks: dict[str, dict[str, str]] = {}
    for conversion in conversions:
        ident = conversion.ident(seen_at)
        lot = max(1, lot_of(conversion.exchange_segment, conversion.security_id))
        for follower, by_key in sorted(nets.items()):
            qty = follower_quantity(conversion, by_key.get(conversion.source, 0), lot)
            if qty <= 0:
                continue
            part = FollowerConversion(
                conversion.exchange_segment,
                conversion.security_id,
                conversion.from_product,
                conversion.to_product,
                conversion.position_type,
                qty,
            )
            marks.setdefault(follower, {})[f"{CONVERSION_MARK}{ident}"] = part.encode()
    return marks
