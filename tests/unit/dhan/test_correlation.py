"""Property tests of ``correlation_id_for``: valid, deterministic and collision-resistant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhan.correlation import (
    MAX_GENERATION,
    correlation_id_for,
    first_generation_id,
    generation_of,
    is_copy_id,
    is_valid_correlation_id,
)

# The real domains: follower names are validated by the config as [a-z0-9_-]; Dhan order ids
# are numeric strings, but any printable id must work.
followers = st.from_regex(r"[a-z0-9_-]{1,32}", fullmatch=True)
order_ids = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
legs = st.sampled_from(["", "NA", "ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG", "odd-leg"])


@given(followers, order_ids, legs)
def test_every_id_is_at_most_30_chars_of_the_allowed_alphabet(follower, order_id, leg):
    cid = correlation_id_for(follower, order_id, leg)

    assert is_valid_correlation_id(cid)
    assert len(cid) <= 30


@given(followers, order_ids, legs)
def test_the_same_inputs_always_give_the_same_id(follower, order_id, leg):
    assert correlation_id_for(follower, order_id, leg) == correlation_id_for(
        follower, order_id, leg
    )


@given(
    st.tuples(followers, order_ids, legs),
    st.tuples(followers, order_ids, legs),
)
def test_different_inputs_give_different_ids(a, b):
    if a != b:
        assert correlation_id_for(*a) != correlation_id_for(*b)


@settings(max_examples=25)
@given(st.lists(followers, min_size=2, max_size=50, unique=True), order_ids)
def test_many_followers_copying_one_leader_order_never_collide(names, order_id):
    ids = {
        correlation_id_for(name, order_id, leg)
        for name in names
        for leg in ("ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG")
    }

    assert len(ids) == 3 * len(names)


def test_a_realistic_day_of_ids_has_no_collision():
    # 50 followers x 1,000 leader orders x 3 legs = 150,000 ids, checked exhaustively.
    seen: set[str] = set()
    count = 0
    for follower in (f"f{i:03d}" for i in range(50)):
        for order_no in range(112111182000, 112111183000):
            for leg in ("ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG"):
                seen.add(correlation_id_for(follower, str(order_no), leg))
                count += 1
    assert len(seen) == count


def test_an_empty_follower_or_order_id_is_refused():
    with pytest.raises(ValueError):
        correlation_id_for("", "1")
    with pytest.raises(ValueError):
        correlation_id_for("alice", "")


@given(
    st.text(min_size=1),
    st.text(min_size=1),
    st.text(),
    st.text(min_size=1),
    st.text(min_size=1),
    st.text(),
)
def test_no_two_tuples_of_arbitrary_text_share_an_id(f1, o1, l1, f2, o2, l2):
    if (f1, o1, l1) != (f2, o2, l2):
        assert correlation_id_for(f1, o1, l1) != correlation_id_for(f2, o2, l2)


def test_separator_characters_inside_a_part_cannot_shift_it_into_the_next():
    assert correlation_id_for("a\x1f", "c") != correlation_id_for("a", "\x1fc")
    assert correlation_id_for("a;", "c") != correlation_id_for("a", ";c")


def test_each_generation_of_a_copy_has_its_own_valid_id_and_says_which_it_is():
    ids = [correlation_id_for("alice", "112111182345", generation=g) for g in range(36)]
    assert len(set(ids)) == 36
    assert all(is_valid_correlation_id(cid) and len(cid) <= 30 for cid in ids)
    assert [generation_of(cid) for cid in ids] == list(range(36))
    assert ids[1] == ids[0] + "-1" and ids[35] == ids[0] + "-z"
    assert {first_generation_id(cid) for cid in ids} == {ids[0]}
    with pytest.raises(ValueError):
        correlation_id_for("alice", "1", generation=MAX_GENERATION + 1)


@pytest.mark.parametrize(
    ("value", "copy"),
    [
        (correlation_id_for("alice", "112000000001"), True),
        (correlation_id_for("bob", "52260327123456", "STOP_LOSS_LEG"), True),
        (correlation_id_for("bob", "A-1/2", "TARGET_LEG", generation=35), True),
        (correlation_id_for("carol", "9", "ENTRY_LEG", generation=1), True),
        (None, False),
        ("", False),
        ("RS_alice_1333_1", False),  # resync's own orders
        ("my-own-order", False),
        ("E1234567890-abcdefghijklmnop-", False),
        ("E1234567890-ABCDEFGHIJKLMNOP", False),
    ],
)
def test_a_copys_id_is_told_by_its_shape(value: str | None, copy: bool) -> None:
    assert is_copy_id(value) is copy


@given(followers, order_ids, legs, st.integers(0, MAX_GENERATION))
def test_every_id_made_has_a_copys_shape(follower, order_id, leg, generation):
    assert is_copy_id(correlation_id_for(follower, order_id, leg, generation=generation))
