"""Account controls beyond orders: static IPs (``/ip/*``) and the static-IP check on order writes.

Dhan (SEBI, 2026): order writes are accepted only from an IP the account registered; reads are
free. One PRIMARY and one SECONDARY IP per account, IPv4 or IPv6, unique across users, and a set
IP cannot be modified for 7 days (``static_ip_lock_days``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dhan.codes import DhErrorCode
from dhansim.account import Account
from dhansim.clock import IST
from dhansim.errors import SimError, bad_input, order_error
from dhansim.switches import Switches
from dhansim.validation import check_client_id, require_object

IP_FLAGS = ("PRIMARY", "SECONDARY")
_DAY_S = 86_400.0


def _normal_ip(text: str) -> str:
    """The canonical text of an IPv4 / IPv6 address (an IPv4-mapped IPv6 one as IPv4)."""
    addr = ipaddress.ip_address(text.strip())
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def parse_ip_request(body: Any, account_id: str) -> tuple[str, str]:
    """``{dhanClientId, ip, ipFlag}`` of ``/ip/setIP`` and ``/ip/modifyIP``: (flag, ip)."""
    body = require_object(body)
    check_client_id(body, account_id)
    raw = body.get("ip")
    if not isinstance(raw, str) or not raw.strip():
        raise bad_input("Missing required field: ip")
    try:
        ip = _normal_ip(raw)
    except ValueError:
        raise bad_input(f"Invalid ip {raw!r}: must be an IPv4 or IPv6 address") from None
    flag = body.get("ipFlag") or "PRIMARY"
    if flag not in IP_FLAGS:
        raise bad_input(f"Invalid ipFlag: {flag!r} (allowed: PRIMARY, SECONDARY)")
    return flag, ip


def set_ip(
    account: Account,
    others: Iterable[Account],
    flag: str,
    ip: str,
    switches: Switches,
    *,
    modify: bool,
    now_s: float | None = None,
) -> dict[str, str]:
    """Register (``modify`` False) or change an account's static IP; the answer body."""
    now_s = time.time() if now_s is None else now_s
    current = account.static_ips.get(flag)
    if not modify and current is not None:
        raise order_error(f"{flag} IP is already set; use modifyIP to change it")
    if modify:
        if current is None:
            raise order_error(f"No {flag} IP is set; use setIP first")
        unlock_s = account.static_ip_set_at[flag] + switches.static_ip_lock_days * _DAY_S
        if now_s < unlock_s:
            raise order_error(f"{flag} IP cannot be modified before {_date(unlock_s)}")
    for other in others:
        if other is not account and ip in other.static_ips.values():
            raise bad_input("This IP is already registered to another user")
    account.static_ips[flag] = ip
    account.static_ip_set_at[flag] = now_s
    verb = "modified" if modify else "set"
    return {"status": "SUCCESS", "message": f"{flag} IP {verb} successfully"}


def get_ip(account: Account, switches: Switches) -> dict[str, str]:
    """``GET /ip/getIP``: the IPs and the date from which each can be modified."""
    out = {"dhanClientId": account.client_id}
    for flag, key in (("PRIMARY", "Primary"), ("SECONDARY", "Secondary")):
        set_at = account.static_ip_set_at.get(flag)
        out[f"{flag.lower()}IP"] = account.static_ips.get(flag, "")
        out[f"modifyDate{key}"] = (
            "" if set_at is None else _date(set_at + switches.static_ip_lock_days * _DAY_S)
        )
    return out


def check_source(account: Account, remote: str | None, switches: Switches) -> None:
    """With ``static_ip`` on, refuse an order write of an account that registered an IP when it
    comes from another address."""
    if not switches.static_ip or not account.static_ips:
        return
    try:
        source = _normal_ip(remote or "")
    except ValueError:
        source = remote or "unknown"
    if source in account.static_ips.values():
        return
    code = DhErrorCode(switches.static_ip_error_code)
    raise SimError(code, f"Invalid IP: {source} is not a static IP registered for this account")


def _date(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, IST).strftime("%Y-%m-%d")
