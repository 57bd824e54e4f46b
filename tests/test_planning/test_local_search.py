import numpy as np
import pytest

from damex_mmdet.planning import RoundingError, improve_mapping, repair_overflow


def _loads(assign, dem, num_experts):
    return np.bincount(assign, weights=dem, minlength=num_experts).astype(float)


def _repair(assign, w, dem, cap, movable=None, frozen=None):
    assign = np.asarray(assign)
    movable = np.ones(len(assign), bool) if movable is None else np.asarray(movable)
    frozen = np.zeros(len(assign), bool) if frozen is None else np.asarray(frozen)
    dem, cap = np.asarray(dem, float), np.asarray(cap, float)
    loads = _loads(assign, dem, len(cap))
    moves = repair_overflow(assign, movable, frozen, np.asarray(w, float), dem, cap, loads, 1e-6)
    np.testing.assert_allclose(loads, _loads(assign, dem, len(cap)))
    return assign.tolist(), moves


def test_repair_moves_the_cheapest_unit():
    # Both sit on e0 (capacity 1); moving unit 0 loses 0.5, unit 1 would lose 0.8.
    assert _repair([0, 0], [[1.0, 0.5], [1.0, 0.2]], [1, 1], [1, 1]) == ([1, 0], 1)


def test_repair_loss_is_per_unit_of_freed_overflow():
    # e0 (capacity 1) carries 5. Unit 0 (demand 1) loses 0.3 and frees 1; unit 1 (demand
    # 4) loses 0.4 but frees 4: 0.1 per unit, so it moves alone and fixes the overflow
    # (the smallest absolute loss would move unit 0 first and then unit 1 anyway).
    assert _repair([0, 0], [[1.0, 0.7], [1.0, 0.6]], [1, 4], [1, 5]) == ([0, 1], 1)


def test_repair_swaps_when_no_move_fits():
    # e0 over by 0.5; unit 0 (2) fits nowhere alone, but swapping with unit 1 (1) does.
    assert _repair([0, 1], [[1.0, 0.5], [0.5, 1.0]], [2, 1], [1.5, 2]) == ([1, 0], 2)


def test_repair_prefers_movable_rows_and_never_moves_frozen_ones():
    w = [[1.0, 0.9], [1.0, 0.0]]
    # Unit 0 is cheaper to move but not movable: the movable unit 1 goes.
    assert _repair([0, 0], w, [1, 1], [1, 1], movable=[False, True]) == ([0, 1], 1)
    # Unit 0 frozen and nothing movable: the second tier still spares it.
    assert _repair([0, 0], w, [1, 1], [1, 1], movable=[False, False],
                   frozen=[True, False]) == ([0, 1], 1)


def test_repair_raises_when_stuck():
    with pytest.raises(RoundingError, match='expert 0 carries load 2 > capacity 1'):
        _repair([0], [[1.0, 1.0]], [2], [1, 1])


def test_improve_moves_then_exchanges():
    w = np.array([[0.1, 0.9], [1.0, 0.2], [0.3, 0.4]])
    dem, cap = np.ones(3), np.array([2.0, 2.0])
    assign = np.array([0, 1, 1])
    loads = _loads(assign, dem, 2)
    improve_mapping(assign, np.ones(3, bool), w, dem, cap, loads, 1e-6)
    # Swap units 0 and 1 (gain 0.9 + 1.0 - 0.1 - 0.2 = 1.6); unit 2 prefers e1 and stays.
    assert assign.tolist() == [1, 0, 1]
    np.testing.assert_allclose(loads, [1, 2])
    # Rows that are not movable stay put even if a move would gain.
    assign = np.array([0, 1, 1])
    improve_mapping(assign, np.array([False, False, True]), w, dem, cap,
                    _loads(assign, dem, 2), 1e-6)
    assert assign.tolist() == [0, 1, 1]
