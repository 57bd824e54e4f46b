"""Tests of damex_mmdet.utils.random_state: snapshots that restore every global generator."""
import io
import random

import numpy as np
import torch

from damex_mmdet.utils.random_state import (capture_random_state, derive_seed,
                                            preserved_random_state, restore_random_state,
                                            seeded_random_state)


def _draws():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)],
            float(np.random.randn()))  # randn leaves a cached Gaussian behind


def test_a_restored_snapshot_draws_what_the_original_drew():
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    _draws()  # move every generator off its seed, with a cached Gaussian pending
    state = capture_random_state()
    first = _draws()
    _draws()
    restore_random_state(state)
    assert _draws() == first


def test_a_snapshot_survives_a_weights_only_checkpoint():
    np.random.seed(4)
    np.random.randn()  # numpy's has_gauss / cached value are part of the state
    state = capture_random_state()
    buffer = io.BytesIO()
    torch.save({'meta': {'random_state': state}}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)['meta']['random_state']
    expected = _draws()
    restore_random_state(loaded)
    assert _draws() == expected


def test_seeded_block_is_a_function_of_its_seed_and_leaves_the_caller_alone():
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    reference = _draws()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    with seeded_random_state(derive_seed(7, 2, 0, 5)):
        inside = _draws()
    assert _draws() == reference  # the caller's stream did not move
    torch.manual_seed(99)
    with seeded_random_state(derive_seed(7, 2, 0, 5)):
        assert _draws() == inside  # whatever the caller's state was
    with seeded_random_state(derive_seed(7, 2, 0, 6)):
        assert _draws() != inside


def test_preserved_block_leaves_no_trace():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with preserved_random_state():
        torch.rand(100)
        iter(torch.utils.data.DataLoader(range(4)))  # draws the loader's base seed
    assert torch.equal(torch.rand(2), expected)


def test_a_foreign_value_is_refused():
    import pytest
    with pytest.raises(ValueError, match='not a random-state snapshot'):
        restore_random_state({'torch': torch.get_rng_state()})
