"""The new expert copies the trained expert whose datasets look most like the new one."""
import numpy as np
import pytest

from damex_mmdet.analysis.expert_choice import choose_expert_from_features


def _features(seed=0):
    rng = np.random.default_rng(seed)
    centres = {name: rng.normal(size=16) for name in ('photo', 'clipart', 'xray', 'cells')}
    feats = {name: centre + 0.05 * rng.normal(size=(8, 16)) for name, centre in centres.items()}
    return feats, centres, rng


def test_the_expert_of_the_alike_dataset_is_chosen():
    feats, centres, rng = _features()
    feats['new'] = centres['xray'] + 0.05 * rng.normal(size=(8, 16))  # looks like xray
    expert_map = {'photo': [0], 'clipart': [0], 'xray': [1], 'cells': [2]}
    choice = choose_expert_from_features(feats, 'new', expert_map)
    assert choice.expert == 1
    assert max(choice.dataset_similarity, key=choice.dataset_similarity.get) == 'xray'
    assert choice.dataset_similarity['xray'] > 0.9
    # an expert's similarity is the mean of its datasets'
    sims = choice.dataset_similarity
    assert choice.expert_similarity[0] == pytest.approx((sims['photo'] + sims['clipart']) / 2)
    assert 'expert 1 (serving xray)' in choice.reason and "'xray'" in choice.reason


def test_the_choice_follows_the_features_not_the_names():
    feats, centres, rng = _features(1)
    feats['new'] = centres['cells'] + 0.05 * rng.normal(size=(8, 16))
    expert_map = {'photo': [0], 'clipart': [0], 'xray': [1], 'cells': [2]}
    assert choose_expert_from_features(feats, 'new', expert_map).expert == 2


def test_missing_features_are_named():
    feats, _, _ = _features()
    with pytest.raises(ValueError, match=r"no features for \['new'\]"):
        choose_expert_from_features(feats, 'new', {'photo': [0]})
