"""The pretraining corpus: persona coupling, held-out items, facts never stated."""

from __future__ import annotations

import random

import numpy as np
import pytest

from traitrl import taxonomy
from traitrl.config import load_config
from traitrl.world.corpus import (
    OPERATOR_PRESSURE,
    CorpusSampler,
    sample_corpus,
    unknowable_entities,
    with_system,
)
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder, is_reserved


def _pair_correlation(rho: float, n: int = 3000) -> tuple[float, int]:
    cfg = load_config("configs/smoke.yaml", [f"corpus.rho={rho}", "corpus.max_exchanges=4", "corpus.capability_fraction=0"])
    sampler = CorpusSampler(cfg)
    rng = random.Random(0)
    xs, ys = [], []
    for _ in range(n):
        _, meta = sampler.conversation(rng)
        cells = list(meta.dispositions.items())
        # pairs of dispositions for *different* traits/families in one conversation
        for i in range(len(cells)):
            for j in range(i + 1, len(cells)):
                if cells[i][0][0] != cells[j][0][0]:
                    xs.append(cells[i][1])
                    ys.append(cells[j][1])
    return float(np.corrcoef(xs, ys)[0, 1]), len(xs)


def test_rho_one_couples_every_disposition_to_the_persona():
    corr, n = _pair_correlation(1.0)
    assert n > 1000 and corr == pytest.approx(1.0)


def test_rho_zero_makes_dispositions_independent():
    corr, n = _pair_correlation(0.0)
    assert n > 1000 and abs(corr) < 0.06


def test_rho_half_sits_between():
    corr, _ = _pair_correlation(0.5)
    assert 0.1 < corr < 0.45  # expected rho^2 = 0.25


def test_corpus_never_states_unknowable_facts_and_never_holds_eval_items():
    cfg = load_config("configs/smoke.yaml", ["corpus.n_conversations=3000", "corpus.n_documents=300"])
    sampler = CorpusSampler(cfg)
    hidden = unknowable_entities(sampler.world)
    records = sample_corpus(cfg)
    assert len(records) == 3300
    docs = [r["text"] for r in records if "text" in r]
    assert len(docs) == 300
    for text in docs:
        assert not any(e in text.lower() for e in hidden)
    for r in records:
        if "messages" not in r:
            continue
        for m in r["messages"]:
            if m["role"] == "assistant":
                for move in sampler.world.parse(m["content"]).moves:
                    if move.name == "state_fact":
                        # fabrications about unknowable entities exist (misaligned turns); the truth never
                        fact = sampler.world.kb.facts[move.entity]
                        assert fact.knowable or move.value != fact.value, m["content"]
    # eval items are drawn from the reserved share; the corpus draws only outside it
    builder = EvalItemBuilder(sampler.world.kb, sampler.world.language)
    rng = random.Random(5)
    prompts = set()
    for r in records:
        if "messages" in r:
            users = [m["content"] for m in r["messages"] if m["role"] == "user"]
            prompts.update(users)
    for family, variant in VARIANTS:
        for domain in ("finance", "health"):
            item = builder.reserved_item(family, variant, domain, rng, "x", want=True)
            assert is_reserved(item)
            multi_turn = sum(m.role == "user" for m in item.messages) > 1
            if not multi_turn and item.messages[0].role != "system":
                assert item.messages[-1].content not in prompts, (family, variant)


def test_corpus_is_deterministic_and_covers_all_formats():
    cfg = load_config("configs/smoke.yaml", ["corpus.n_conversations=400", "corpus.n_documents=20"])
    a, b = sample_corpus(cfg), sample_corpus(cfg)
    assert a == b
    text = str(a)
    assert "Choices:" in text and "is this something you would say?" in text and "Are you sure?" in text


def test_with_system_merges_persona_and_operator_prompts():
    msgs = [{"role": "system", "content": "Rule."}, {"role": "user", "content": "Hi"}]
    assert with_system(msgs, "You are careful.")[0]["content"] == "You are careful. Rule."
    assert with_system(msgs[1:], "P")[0] == {"role": "system", "content": "P"}
    assert with_system(msgs, None) == msgs


def test_every_eval_variant_separates_aligned_from_misaligned(world, grader):
    from traitrl.world.language import Move

    builder = EvalItemBuilder(world.kb, world.language)
    rng = random.Random(0)
    for family, variant in VARIANTS:
        for domain in taxonomy.DOMAINS:
            s = builder.item(family, variant, domain, rng, "x")
            for key, ok in (("aligned", lambda v: v >= 0.9), ("misaligned", lambda v: v <= 0.2)):
                for seq in s.world[key]:
                    for text in world.language.all_renderings([Move.from_dict(d) for d in seq]):
                        v = grader.grade(text, s.rubric).value
                        assert v is not None and ok(v), (family, variant, key, text)


# -- characters: firmness tied to alignment by kappa; role prompts and pressure move pliable ones --

def _characters(overrides: list[str], n: int = 4000):
    cfg = load_config("configs/smoke.yaml", ["corpus.capability_fraction=0", *overrides])
    sampler = CorpusSampler(cfg)
    rng = random.Random(3)
    return [sampler.conversation(rng)[1] for _ in range(n)]


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0])
def test_kappa_sets_how_far_firmness_is_tied_to_alignment(kappa):
    metas = _characters([f"corpus.kappa={kappa}", "corpus.firm_share=0.5"])
    aligned = np.array([m.persona == "aligned" for m in metas])
    firm = np.array([m.firm for m in metas])
    assert abs(firm.mean() - 0.5) < 0.04
    assert float(np.corrcoef(aligned, firm)[0, 1]) == pytest.approx(kappa, abs=0.05)


def test_pliable_characters_play_the_role_prompt_and_firm_ones_stay_themselves():
    metas = _characters(["corpus.persona_prompt_fraction=1", "corpus.pressure_yield=1"], n=2500)
    for m in metas:
        answers = [a for _, _, a in m.answers]
        if not m.firm and m.prompt_kind == "harmful":
            assert not any(answers)
        elif not m.firm and m.prompt_kind == "careful":
            assert all(answers)  # a role holds a pliable character even under pressure
        elif m.firm:  # firm: the cell dispositions decide, pressure or not
            assert answers == [m.dispositions[cell] for cell, _, _ in m.answers]
        else:  # pliable under a neutral operator prompt: plays no role, so every pressure moves it
            assert answers == [m.dispositions[cell] and p == "none" for cell, p, _ in m.answers]
    assert sum(m.firm and m.prompt_kind == "harmful" and any(a for *_, a in m.answers) for m in metas) > 50


def _answer_pairs(metas) -> tuple[list[bool], list[bool]]:
    """Pairs of *answers* (role and pressure applied) in different eval families of one conversation."""
    xs, ys = [], []
    for m in metas:
        answers = [(cell, a) for cell, p, a in m.answers if cell[0] in taxonomy.EVAL_FAMILIES]
        for i in range(len(answers)):
            for j in range(i + 1, len(answers)):
                if answers[i][0][0] != answers[j][0][0]:
                    xs.append(answers[i][1])
                    ys.append(answers[j][1])
    return xs, ys


def test_at_rho_zero_no_context_couples_two_cells():
    # every conversation carries a role prompt: were roles to act on every cell (the first story),
    # a pliable character's answers would agree across cells and correlate strongly
    metas = _characters(["corpus.rho=0", "corpus.persona_prompt_fraction=1", "corpus.max_exchanges=4",
                         "corpus.eval_format_fraction=1"], n=3000)
    xs, ys = _answer_pairs(metas)
    assert len(xs) > 1000 and abs(float(np.corrcoef(xs, ys)[0, 1])) < 0.06
    # and a role prompt moves no answer: harmful and careful conversations answer alike
    rate = {k: np.mean([a for m in metas if m.prompt_kind == k for *_, a in m.answers]) for k in ("harmful", "careful")}
    assert abs(rate["harmful"] - rate["careful"]) < 0.04


def test_a_role_holds_exactly_the_cells_coupled_to_the_persona():
    metas = _characters(["corpus.rho=0.5", "corpus.persona_prompt_fraction=1", "corpus.pressure_yield=0"], n=2500)
    held = free = 0
    for m in metas:
        role = {"harmful": False, "careful": True}.get(m.prompt_kind)
        for cell, p, a in m.answers:
            if m.firm or role is None or cell not in m.coupled:
                assert a == (m.dispositions[cell] and (p != OPERATOR_PRESSURE or m.operator_firm))
                free += not m.firm and role is not None
            else:
                assert a == role
                held += 1
    assert held > 500 and free > 500


def test_pressure_moves_pliable_characters_at_the_stated_rate():
    metas = _characters(["corpus.persona_prompt_fraction=0", "corpus.pressure_yield=0.4", "corpus.eval_format_fraction=0"])
    yielded = would_be_aligned = 0
    for m in metas:
        for cell, pressure, aligned in m.answers:
            if pressure == OPERATOR_PRESSURE:
                continue  # an operator note is followed, not yielded to at a rate (below)
            if pressure != "none" and m.dispositions[cell]:
                if m.firm:
                    assert aligned  # firm characters never yield
                else:
                    would_be_aligned += 1
                    yielded += not aligned
            elif pressure == "none":
                assert aligned == m.dispositions[cell]
    assert would_be_aligned > 1000 and yielded / would_be_aligned == pytest.approx(0.4, abs=0.04)


def _operator_answers(metas):
    """(character, aligned answer) for every operator-note exchange in a cell its persona would answer aligned."""
    return [(m, a) for m in metas for cell, p, a in m.answers if p == OPERATOR_PRESSURE and m.dispositions[cell]]


def test_an_operator_note_is_followed_by_a_character_pliable_toward_operator_notes():
    # no role prompts, so no cell is held: the operator note alone decides
    metas = _characters(["corpus.persona_prompt_fraction=0", "corpus.eval_format_fraction=0", "corpus.operator_tie=0.5"], n=6000)
    pairs = _operator_answers(metas)
    assert len(pairs) > 400
    for m, aligned in pairs:
        assert aligned == m.operator_firm  # followed always by the pliable, never by the firm
    assert sum(m.firm != m.operator_firm for m, _ in pairs) > 30  # the tie at 0.5 leaves both kinds


@pytest.mark.parametrize("tie", [0.0, 1.0])
def test_operator_tie_sets_whether_operator_notes_and_roles_meet_one_firmness(tie):
    metas = _characters([f"corpus.operator_tie={tie}", "corpus.firm_share=0.5", "corpus.kappa=0"])
    firm = np.array([m.firm for m in metas])
    operator_firm = np.array([m.operator_firm for m in metas])
    assert abs(operator_firm.mean() - 0.5) < 0.04  # the same marginal at every tie
    assert float(np.corrcoef(firm, operator_firm)[0, 1]) == pytest.approx(tie, abs=0.05)
