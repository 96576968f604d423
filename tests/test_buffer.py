"""The online buffer between actor and learner (RLTF's bounded queue of judged samples).

What the learner sees decides how on-policy RL stays: the buffer must forget the oldest
samples past its capacity, hold new ones back until a refresh step, serve fresh and
little-used samples first, and resume from a checkpoint drawing exactly what it would have.
"""

import json

from rltf.buffer import OnlineBuffer
from rltf.token_rewards import Example


def example(n):
    return Example([1, 2], [3, 4, n], {"unittest/coarse": [0.5, -0.5, float(n)]}, policy_step=n)


def steps(examples):
    return [e.policy_step for e in examples]


def filled(capacity, n, refresh_every=1):
    buffer = OnlineBuffer(capacity, refresh_every)
    buffer.push([example(i) for i in range(n)])
    buffer.refresh(0)
    return buffer


def test_capacity_drops_the_oldest():
    buffer = filled(3, 5)
    assert len(buffer) == 3
    assert sorted(steps(buffer.draw(10))) == [2, 3, 4]


def test_capacity_holds_across_refreshes():
    buffer = filled(4, 3)
    buffer.push([example(3), example(4)])
    buffer.refresh(1)
    assert sorted(steps(buffer.draw(10))) == [1, 2, 3, 4]


def test_pushed_examples_wait_for_a_refresh_step():
    buffer = OnlineBuffer(10, refresh_every=3)
    buffer.push([example(0), example(1)])
    for step in (1, 2, 4, 5):
        buffer.refresh(step)
        assert len(buffer) == 0 and buffer.draw(5) == []
    buffer.refresh(6)
    assert len(buffer) == 2


def test_forced_refresh_shows_pushed_examples_on_any_step():
    buffer = OnlineBuffer(10, refresh_every=3)
    buffer.push([example(0)])
    buffer.refresh(1, force=True)
    assert steps(buffer.draw(5)) == [0]


def test_draw_takes_least_used_then_newest_and_counts_uses():
    buffer = filled(10, 4)
    first = buffer.draw(2)
    assert steps(first) == [3, 2]
    assert [e.uses for e in first] == [1, 1]
    assert steps(buffer.draw(2)) == [1, 0]
    assert steps(buffer.draw(3)) == [3, 2, 1]
    buffer.push([example(9)])
    buffer.refresh(1)
    assert steps(buffer.draw(2)) == [9, 0]


def test_draw_of_more_than_held_returns_all():
    buffer = filled(10, 2)
    assert steps(buffer.draw(5)) == [1, 0]


def test_state_round_trip_gives_identical_draws():
    original = OnlineBuffer(5, refresh_every=2)
    original.push([example(i) for i in range(6)])
    original.refresh(0)
    original.draw(3)
    original.push([example(6), example(7)])  # still waiting for a refresh when saved
    state = json.loads(json.dumps(original.state_dict()))  # plain data, as a checkpoint holds it

    restored = OnlineBuffer(5, refresh_every=2)
    restored.load_state_dict(state)
    for step, n in [(1, 2), (2, 3), (3, 4), (4, 1)]:
        original.refresh(step)
        restored.refresh(step)
        assert len(restored) == len(original)
        assert [e.to_dict() for e in restored.draw(n)] == [e.to_dict() for e in original.draw(n)]


def test_restored_buffer_keeps_its_capacity():
    restored = OnlineBuffer(3)
    restored.load_state_dict(filled(3, 3).state_dict())
    restored.push([example(7)])
    restored.refresh(1)
    assert sorted(steps(restored.draw(10))) == [1, 2, 7]


def test_max_uses_retires_rows_instead_of_refilling_with_older_ones():
    buffer = OnlineBuffer(capacity=10, max_uses=1)
    buffer.push([example(i) for i in range(3)])
    buffer.refresh(1)
    assert len(buffer.draw(2)) == 2
    assert len(buffer.draw(2)) == 1
    assert buffer.draw(2) == []
    assert len(buffer) == 3
