"""The run configuration: one typed object for model, training and objective, as stored."""

import json

import pytest

from models_core.nn.config import RunConfig, preset
from models_core.nn.objectives import autogen


def test_a_run_configuration_round_trips_through_json():
    tiny = preset("tiny")
    config = RunConfig(model=tiny.model, train=tiny.train.replace(seed=3), objective=autogen(2.0))
    stored = json.loads(json.dumps(config.to_dict()))  # what a JSONField gives back
    assert set(stored) == {"model", "train", "objective"}
    assert RunConfig.from_dict(stored) == config
    assert RunConfig.from_dict(stored).objective.m == 2.0


@pytest.mark.parametrize(
    "change", [{"extra": {}}, {"objective": None}], ids=["unknown part", "missing part"]
)
def test_a_run_configuration_with_other_parts_is_refused(change):
    tiny = preset("tiny")
    stored = RunConfig(model=tiny.model, train=tiny.train, objective=autogen(1.0)).to_dict()
    stored.update(change)
    stored = {k: v for k, v in stored.items() if v is not None}
    with pytest.raises(ValueError, match="has the parts"):
        RunConfig.from_dict(stored)


def test_a_wrong_key_inside_a_part_is_named():
    tiny = preset("tiny")
    stored = RunConfig(model=tiny.model, train=tiny.train, objective=autogen(1.0)).to_dict()
    stored["train"]["stepz"] = 3
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        RunConfig.from_dict(stored)
