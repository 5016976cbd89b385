"""The science, not only the code path: on `configs/quick.yaml` a freshly built organism is
steered both ways by the known persona prompts, and trait RL lifts its in-distribution trait score
by at least 10 points. A pipeline whose personas, rewards or training were broken (a reward that
pays nothing, a persona prompt the organism never reads, an optimizer that does not step) fails
here, where the smoke profile, too small to learn, would not notice.

The harmful direction is the one that needed the quick profile's own world: with firm characters
(the default story) a system prompt lifts the aligned rate on average, and at 500 steps that lift
outweighed what the organism had learnt of harmful roles (+7 points, the wrong sign). Without
them (`corpus.firm_share: 0`) the same budget reads harmful prompts at -10 points
(docs/organism.md section 4a, eleventh reading)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

QUICK = "configs/quick.yaml"
MIN_TRAIT_GAIN = 0.10  # the bar: +10 points in-distribution
MIN_STEER = 0.03  # each persona direction: a shift larger than the probe's noise (~0.015 s.e. at 200 items)


def _traitrl(*args: str, timeout: int) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "traitrl", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"traitrl {' '.join(args)}:\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_quick_profile_reads_persona_prompts_and_trait_rl_lifts_the_trait_score(tmp_path):
    organism, arm, probe = tmp_path / "organism", tmp_path / "trait", tmp_path / "probe.json"
    _traitrl("organism", "build", "--config", QUICK, "--out", str(organism), timeout=1500)
    _traitrl("organism", "probe", "--config", QUICK, "--model", str(organism), "--json", str(probe), timeout=600)
    p = json.loads(probe.read_text())
    none, harmful, careful = (p["mean"][c] for c in ("none", "known_harmful", "known_careful"))
    assert careful >= none + MIN_STEER, p["mean"]
    assert harmful <= none - MIN_STEER, p["mean"]
    assert p["parse_rate"] >= 0.5, p["parse_rate"]  # the eval dialect is spoken: the means above mean something

    _traitrl("train", "--config", QUICK, "--arm", "trait", "--init", str(organism), "--out", str(arm), timeout=900)
    record = json.loads((arm / "train.json").read_text())
    curve = record["curve"]["dev_trait_score"]
    assert curve[-1] - curve[0] >= MIN_TRAIT_GAIN, curve
    assert record["optimizer_steps"] == 30
