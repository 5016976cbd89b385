"""The persistence endpoints (docs/organism.md §4) on hand-made per-item scores whose answers are
known, and the null-run configs."""

from __future__ import annotations

import math

import pytest

from traitrl.config import load_config
from traitrl.errors import UserError
from traitrl.experiments.endpoints import STATS, compare_conditions, matched_pair
from traitrl.experiments.nulls import NULLS, null_config, selected


def _items(n: int, **means: float) -> dict[str, dict[str, float]]:
    """Binary item scores with the given mean per condition (n items, the first k aligned)."""
    out = {}
    for cond, m in means.items():
        k = round(m * n)
        out[cond] = {f"i{j}": 1.0 if j < k else 0.0 for j in range(n)}
    return out


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_endpoints_match_their_definitions():
    ref = _items(200, none=0.4, known_h=0.2, known_c=0.7)
    mod = _items(200, none=0.6, known_h=0.5, known_c=0.8)
    # the real condition names
    rename = {"known_h": "harmful", "known_c": "helpful"}
    ref = {rename.get(k, k): v for k, v in ref.items()}
    mod = {rename.get(k, k): v for k, v in mod.items()}
    ends = compare_conditions(ref, mod, list(STATS), n_boot=500, seed=0)
    assert set(ends["raw_drop"]) == {"known"}  # the unseen conditions are absent: no unseen endpoint
    raw = ends["raw_drop"]["known"]
    assert raw.reference == pytest.approx(0.2) and raw.model == pytest.approx(0.1)
    assert raw.difference == pytest.approx(-0.1)
    lg = ends["logit_drop"]["known"]
    assert lg.reference == pytest.approx(logit(0.4) - logit(0.2))
    assert lg.model == pytest.approx(logit(0.6) - logit(0.5))
    hs = ends["harmful_share"]["known"]
    assert hs.reference == pytest.approx(0.5) and hs.model == pytest.approx(0.1 / 0.6)
    cs = ends["careful_share"]["known"]
    assert cs.reference == pytest.approx(0.3 / 0.6) and cs.model == pytest.approx(0.2 / 0.4)
    assert ends["score_under_attack"]["known"].difference == pytest.approx(0.3)
    # a large difference on 200 items: the CI excludes 0 and contains the estimate
    att = ends["score_under_attack"]["known"]
    assert att.ci[0] > 0 and att.ci[0] < att.difference < att.ci[1]
    assert att.p_value < 0.01


def test_equal_models_give_a_ci_around_zero():
    a = _items(100, none=0.5, harmful=0.3, helpful=0.7, unseen_harmful=0.35, unseen_helpful=0.65)
    ends = compare_conditions(a, a, list(STATS), n_boot=300, seed=1)
    for stat in ends.values():
        for e in stat.values():
            assert e.difference == pytest.approx(0.0)
            assert e.ci[0] <= 0 <= e.ci[1]


def test_items_pair_by_id_and_only_common_items_count():
    ref = {"none": {"a": 1.0, "b": 0.0, "c": 1.0}, "harmful": {"a": 0.0, "b": 0.0, "c": 1.0}}
    mod = {"none": {"a": 1.0, "b": 1.0}, "harmful": {"a": 1.0, "b": 0.0}}
    e = compare_conditions(ref, mod, ["raw_drop"], n_boot=200, seed=0)["raw_drop"]["known"]
    assert e.n == 2  # c is scored for one model only
    assert e.reference == pytest.approx(0.5) and e.model == pytest.approx(0.5)


def test_matched_start_is_the_closest_pair_of_rl_checkpoints_never_the_base():
    # the default run's shape: baseline RL lowers the score, so the final baseline (0.42) sits below
    # the pre-RL organism (0.44); the old rule (the first trait step reaching it) took step 0
    trait = [(0, 0.44), (10, 0.47), (20, 0.49), (30, None), (40, 0.53)]
    baseline = [(0, 0.44), (10, 0.46), (20, 0.45), (30, 0.43), (40, 0.42)]
    assert matched_pair(trait, baseline) == (10, 10)  # |0.47 - 0.46| is the smallest RL-RL gap
    # a trait curve that falls from below, a baseline that rises: the match is found from either side
    assert matched_pair([(0, 0.3), (10, 0.36), (20, 0.5)], [(0, 0.3), (10, 0.2), (20, 0.49)]) == (20, 20)
    # step 0 is the same base in both arms (gap 0) and is never a pair
    assert matched_pair([(0, 0.4), (10, 0.6)], [(0, 0.4), (10, 0.5)]) == (10, 10)
    # ties go to the later trait step, then the later baseline step
    assert matched_pair([(10, 0.5), (20, 0.5)], [(10, 0.5), (20, 0.5)]) == (20, 20)
    assert matched_pair([(10, 0.4), (20, 0.6)], [(10, 0.5)]) == (20, 10)
    # no scored RL checkpoint in an arm: no match
    assert matched_pair([(0, 0.4), (10, None)], baseline) is None
    assert matched_pair(trait, [(0, 0.44)]) is None


def test_null_configs_set_only_their_knob_arms_and_persistence():
    cfg = load_config(None, ["corpus.rho=1.0", "corpus.kappa=0.5", "run.seeds=3"])
    rho0, tau0, kappa0 = (null_config(cfg, NULLS[n]) for n in ("rho0", "tau0", "kappa0"))
    assert (rho0.corpus.rho, rho0.corpus.kappa, rho0.corpus.operator_tie) == (0.0, 0.5, 1.0)
    assert (tau0.corpus.rho, tau0.corpus.kappa, tau0.corpus.operator_tie) == (1.0, 0.5, 0.0)
    assert (kappa0.corpus.rho, kappa0.corpus.kappa, kappa0.corpus.operator_tie) == (1.0, 0.0, 1.0)
    assert rho0.run.arms == tau0.run.arms == ["baseline", "trait"]
    assert rho0.run.persistence == [] and tau0.run.persistence == kappa0.run.persistence == ["prompting"]
    assert rho0.run.seeds == 3
    assert (rho0.run.curves, tau0.run.curves) == (False, True)  # only the matched start needs curves
    # the report's two nulls run by default; kappa0 only when asked for
    assert [n.name for n in selected(None)] == ["rho0", "tau0"]
    assert [n.name for n in selected(["kappa0"])] == ["kappa0"]
    # everything the stages read besides the knob is the run's own
    assert rho0.train == cfg.train and rho0.evals == cfg.evals and rho0.organism == cfg.organism
    with pytest.raises(UserError, match="unknown null"):
        selected(["rho1"])


def test_secondary_arms_take_their_own_seed_count():
    from traitrl.experiments.pipeline import arm_seeds

    cfg = load_config(None, ["run.seeds=3", "run.secondary_seeds=1"])
    assert [arm_seeds(cfg, a) for a in ("baseline", "trait", "health_only", "helpfulness_control")] == [3, 3, 1, 1]
    assert arm_seeds(load_config(None, ["run.seeds=2", "run.secondary_seeds=5"]), "health_only") == 2
    assert arm_seeds(load_config(None, ["run.seeds=2"]), "health_only") == 2


def test_run_arms_must_hold_the_compared_pair():
    from traitrl.experiments.pipeline import study_arms

    assert study_arms(load_config(None, ["run.arms=[trait, baseline]"])) == ["baseline", "trait"]
    with pytest.raises(UserError, match="must include baseline"):
        study_arms(load_config(None, ["run.arms=[trait]"]))
    with pytest.raises(UserError, match="unknown arm"):
        study_arms(load_config(None, ["run.arms=[baseline, trait, nope]"]))
