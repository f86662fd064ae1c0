"""The driving environment: sensors, actions in SI units, collision fault."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carmind.drive.env import classify_collision, make_env
from carmind.drive.scenarios import ScenarioError, check_training_seed, scenario
from carmind.drive.types import Action, EgoState, TrackedObject
from carmind.drive.world import to_env_action


def ego(speed: float = 25.0, heading: float = 0.0) -> EgoState:
    return EgoState(speed, 0.0, 0.0, 0.0, heading, 4.0, 1, 1)


def test_hitting_the_car_ahead_is_the_egos_fault() -> None:
    c = classify_collision(ego(), TrackedObject(4.9, 0.2, 20.0, 0.0), is_static=False)
    assert c.at_fault and c.kind == "front"


def test_being_rear_ended_is_not() -> None:
    c = classify_collision(ego(), TrackedObject(-4.9, 0.0, 30.0, 0.0), is_static=False)
    assert not c.at_fault and c.kind == "rear"


def test_a_stopped_ego_is_never_at_fault() -> None:
    c = classify_collision(ego(speed=0.0), TrackedObject(4.9, 0.0, 0.0, 0.0), is_static=False)
    assert not c.at_fault and c.kind == "stopped"


def test_side_contact_blames_who_moved_across() -> None:
    # the ego steers left into a car alongside
    mine = classify_collision(ego(heading=0.1), TrackedObject(1.0, 2.0, 25.0, 0.0), False)
    assert mine.at_fault and mine.kind == "lateral"
    # a car from the left cuts into the ego's lane
    theirs = classify_collision(ego(), TrackedObject(1.0, 2.0, 25.0, -2.0), False)
    assert not theirs.at_fault and theirs.kind == "cut_in"


def test_a_static_object_is_always_at_fault() -> None:
    assert classify_collision(ego(), TrackedObject(3.0, 0.0, 0.0, 0.0), True).at_fault


def test_actions_map_to_the_simulators_normalised_range() -> None:
    config = {"action": {"acceleration_range": (-6.0, 4.0), "steering_range": (-0.5, 0.5)}}
    assert to_env_action(-6.0, 0.0, config) == [-1.0, 0.0]
    assert to_env_action(4.0, 0.0, config) == [1.0, 0.0]
    # carmind steers left-positive; highway-env clockwise-positive
    assert to_env_action(-1.0, 0.25, config)[1] == pytest.approx(-0.5)
    assert to_env_action(99.0, 9.0, config) == [1.0, -1.0]


def test_make_env_gives_the_rig_observation_and_the_egos_state() -> None:
    env = make_env("merge", seed=3)
    obs, _, terminated, truncated, info = env.step(Action(0.5, 0.0))
    assert set(obs) == {"camera", "ultrasonic", "radar", "lidar", "ego"}
    assert obs["camera"].dtype == np.uint8 and obs["camera"].shape[1:] == (64, 64)
    assert env.observation_space.contains(obs)
    assert info["ego"].speed > 20.0 and info["collision"] is None
    assert not terminated and not truncated
    assert math.isclose(env.dt, 0.2)


def test_a_nan_action_is_refused_and_the_episode_goes_on() -> None:
    env = make_env("merge", seed=3, rig=None)
    before = env.core.time
    with pytest.raises(ValueError, match="finite"):
        env.step(Action(float("nan"), 0.0))
    assert env.core.time == before


def test_scenarios_and_seed_split() -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'autobahn'"):
        scenario("autobahn")
    with pytest.raises(ScenarioError, match="held out"):
        check_training_seed(1_000_005)
    assert check_training_seed(5) == 5


def test_the_public_api_drives_the_shipped_model_with_the_guard() -> None:
    from carmind.drive import load_agent, make_env

    env = make_env("merge")
    agent = load_agent("learned+guard")
    obs, info = env.reset(seed=1_000_123)
    agent.reset(env)
    for _ in range(20):
        action = agent.act(obs)
        assert isinstance(action, Action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert info["ego"].speed > 10.0  # it drives on
    assert info["collision"] is None or not info["collision"].at_fault
