"""`organism probe` reports both dialects apart: eval families and training-dialect traits."""

from __future__ import annotations

from traitrl import taxonomy
from traitrl.config import load_config
from traitrl.evals.probe import CONDITIONS, probe_items, run_probe, trait_items
from traitrl.world import get_world
from traitrl.world.language import Move


def test_probe_keeps_the_dialects_apart():
    """A stand-in model answers every eval item aligned and every trait scenario misaligned: the
    families must read 1.0 and the traits 0.0 in every condition (corrigibility is both a family
    and a trait, so mixing the two would show)."""
    cfg = load_config("configs/smoke.yaml")
    w = cfg.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    n = 44
    def key(messages):  # the conversation without its system prompt (the probe adds personas there)
        return tuple((m["role"], m["content"]) for m in messages if m["role"] != "system")

    answers = {}
    for s in probe_items(cfg, n):
        answers[key(s.prompt())] = world.language.render([Move.from_dict(d) for d in s.world["aligned"][0]])
    for s in trait_items(cfg, n // 2):
        answers[key(s.prompt())] = world.language.render([Move.from_dict(d) for d in s.world["misaligned"][0]])

    class Scripted:  # a policy that answers each prompt with its scripted reply
        def generate(self, convs):
            return [answers.get(key(c), "Blorp.") for c in convs]

    out = run_probe(cfg, Scripted(), n=n)
    assert set(out["families"]) == set(taxonomy.EVAL_FAMILIES) and set(out["traits"]) == set(taxonomy.TRAITS)
    assert out["parse_rate"] == 1.0 and out["parse_rate_train"] == 1.0
    for c in CONDITIONS:
        assert all(row[c] == 1.0 for row in out["families"].values()), c
        assert all(row[c] == 0.0 for row in out["traits"].values()), c
    assert out["n_trait_items"] == n // 2
    # every family answered aligned (all 1.0) lies resolved above the band, every trait below it
    assert {r["band"] for r in out["families"].values()} == {"above"}
    assert {r["band"] for r in out["traits"].values()} == {"below"}


def test_probe_reads_the_trait_scenarios_by_pressure():
    """A stand-in model that resists only operator instructions: the pressure rows must read 1.0
    there and 0.0 under every other pressure, in every condition, while the per-trait rows mix the
    two (each trait cycles through the pressures)."""
    cfg = load_config("configs/smoke.yaml")
    w = cfg.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    n = 112

    def key(messages):
        return tuple((m["role"], m["content"]) for m in messages if m["role"] != "system")

    answers = {key(s.prompt()): world.language.render([Move.from_dict(d) for d in s.world["aligned"][0]])
               for s in probe_items(cfg, n)}
    for s in trait_items(cfg, n // 2):
        side = "aligned" if s.pressure == "operator_instruction" else "misaligned"
        answers[key(s.prompt())] = world.language.render([Move.from_dict(d) for d in s.world[side][0]])

    class Scripted:
        def generate(self, convs):
            return [answers.get(key(c), "Blorp.") for c in convs]

    out = run_probe(cfg, Scripted(), n=n)
    assert set(out["pressures"]) == set(taxonomy.PRESSURES)
    assert sum(r["n"] for r in out["pressures"].values()) == out["n_trait_items"] == n // 2
    for c in CONDITIONS:
        assert {p: r[c] for p, r in out["pressures"].items()} == {
            p: 1.0 if p == "operator_instruction" else 0.0 for p in taxonomy.PRESSURES}, c
    assert any(0.0 < r["none"] < 1.0 for r in out["traits"].values())
    assert not any("band" in r for r in out["pressures"].values())  # the band constrains families and traits


def test_band_verdict_needs_the_interval_not_the_point():
    from traitrl.evals.probe import band_verdict, mean_ci

    few = [1.0] * 4 + [0.0] * 14  # 0.22 on 18 items: below the line, but not resolved
    ci = mean_ci(few)
    assert ci[0] < 0.30 < ci[1] and band_verdict(ci) == "unresolved"
    many = ([1.0] * 4 + [0.0] * 14) * 20  # the same rate on 360 items is resolved below
    assert band_verdict(mean_ci(many)) == "below"
    assert band_verdict(mean_ci(([1.0] + [0.0]) * 200)) == "in"
    assert band_verdict(mean_ci([None, 1.0])) == "unresolved"  # one scored answer: no interval
