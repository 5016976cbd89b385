"""The eval suite speaks a dialect RL never answers, and no eval prompt core occurs in the corpus.

Measured on the default profile: the suite's reference answers, pre-filled assistant turns and
multiple-choice options against the RL train / dev data (every rendering of every scenario answer,
every pre-filled turn, and every phrasebook sentence an RL rubric checks), templates compared with
entities, attributes and numbers masked.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from traitrl import taxonomy
from traitrl.config import load_config
from traitrl.evals.registry import EVALS
from traitrl.scenarios.generate import generate
from traitrl.world import get_world, personas, prompts
from traitrl.world.corpus import sample_corpus
from traitrl.world.evalitems import prompt_core, strip_opener
from traitrl.world.language import Move
from traitrl.world.phrasebook import EVAL_DIALECT, MOVES, TRAIN_DIALECT

N_ITEMS = 100  # evals.n_items of the default profile


@pytest.fixture(scope="module")
def default_cfg():
    return load_config("configs/default.yaml")


@pytest.fixture(scope="module")
def default_world(default_cfg):
    w = default_cfg.world
    return get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)


@pytest.fixture(scope="module")
def rl_data(default_cfg, tmp_path_factory):
    splits = generate(default_cfg, tmp_path_factory.mktemp("scenarios"))
    return splits["train"] + splits["dev"]


@pytest.fixture(scope="module")
def suite(default_world):
    return {spec.id: spec.items(default_world, N_ITEMS) for spec in EVALS.values()}


def _seqs(scenario) -> Iterable[list[Move]]:
    for key in ("aligned", "misaligned"):
        for seq in scenario.world[key]:
            yield [Move.from_dict(d) for d in seq]
    for seq in scenario.world.get("option_moves", ()):
        yield [Move.from_dict(d) for d in seq]


def _answer_templates(world, scenarios) -> set[str]:
    """Templates of every assistant sentence a set of scenarios expects, shows or checks."""
    lang = world.language
    out: set[str] = set()
    for s in scenarios:
        texts = [t for seq in _seqs(s) for t in lang.all_renderings(seq)]
        texts += [m.content for m in s.messages if m.role == "assistant"]
        for text in texts:
            out.update(lang.skeleton(sentence)[0] for sentence in lang.sentences(text))
        for item in s.rubric:
            out.update(p.replace("{n}", "{v}").lower() for p in MOVES[item.check.move])
    return out


def _rubric_moves(scenarios, positive_only: bool = False) -> set[str]:
    return {r.check.move for s in scenarios for r in s.rubric if not positive_only or r.points > 0}


def test_dialects_partition_the_phrasebook():
    assert TRAIN_DIALECT | EVAL_DIALECT == set(MOVES) and not TRAIN_DIALECT & EVAL_DIALECT
    assert {"cite_value", "dispute_claim", "no_record", "comfort", "defer"} <= EVAL_DIALECT


def test_every_eval_is_tagged_and_the_suite_is_held_out():
    assert {s.rl_relation for s in EVALS.values()} == {"held_out"}
    assert len(EVALS) == 53


def test_suite_and_rl_share_no_assistant_sentence_template(default_world, rl_data, suite):
    rl = _answer_templates(default_world, rl_data)
    assert len(rl) >= 60  # RL's answers, pre-fills and rubric sentences were all collected
    for spec_id, items in suite.items():
        if EVALS[spec_id].rl_relation != "held_out":
            continue
        ours = _answer_templates(default_world, items)
        shared = ours & rl
        assert not shared, (spec_id, sorted(shared)[:3])


def test_no_rl_reward_pays_for_an_eval_move(rl_data, suite):
    rl_moves = _rubric_moves(rl_data)
    assert rl_moves <= TRAIN_DIALECT
    for spec_id, items in suite.items():
        moves = _rubric_moves(items)
        assert moves <= EVAL_DIALECT and not moves & rl_moves, (spec_id, moves & rl_moves)


def test_eval_references_parse_as_the_eval_dialect(default_world, suite):
    lang = default_world.language
    for spec_id, items in suite.items():
        for s in items[:10]:
            for seq in _seqs(s):
                for text in lang.all_renderings(seq):
                    parsed = default_world.parse(text)
                    assert not parsed.unrecognized and {m.name for m in parsed.moves} <= EVAL_DIALECT, (spec_id, text)


def test_every_eval_has_distinct_items(suite):
    for spec_id, items in suite.items():
        assert len({str(s.prompt()) for s in items}) == N_ITEMS, spec_id
        assert len({prompt_core(s.messages) for s in items}) >= 0.7 * N_ITEMS, spec_id


def test_health_evals_ask_about_entities_rl_never_sees(default_world, rl_data, suite):
    names = default_world.kb.entity_names
    seen = {s.world["entity"] for s in rl_data if "entity" in s.world}
    for s in rl_data:
        for m in s.messages:
            seen.update(n for n in names if n in m.content)
    held_out = {f.entity for f in default_world.kb.held_out_by_domain["health"]}
    assert not seen & held_out
    health_entities = {s.world["entity"] for spec_id, items in suite.items() if EVALS[spec_id].domain == "health"
                       for s in items}
    assert health_entities and health_entities <= held_out


def test_no_eval_prompt_core_occurs_in_the_corpus(default_cfg, suite):
    """Every user turn of the default corpus, openers removed, against every eval item's core."""
    corpus_turns = set()
    for record in sample_corpus(default_cfg):
        for m in record.get("messages", ()):
            if m["role"] == "user":
                corpus_turns.add(strip_opener(m["content"]))
    cores = {prompt_core(s.messages) for items in suite.values() for s in items}
    assert len(cores) > 4000
    assert not cores & corpus_turns, sorted(cores & corpus_turns)[:3]


def test_the_corpus_speaks_both_dialects(default_world):
    cfg = load_config("configs/smoke.yaml", ["corpus.n_conversations=600", "corpus.n_documents=0"])
    w = cfg.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    used: set[str] = set()
    for record in sample_corpus(cfg):
        for m in record["messages"]:
            if m["role"] == "assistant":
                parsed = world.parse(m["content"])
                assert not parsed.unrecognized, m["content"]
                used.update(mv.name for mv in parsed.moves)
    assert len(used & TRAIN_DIALECT) >= 15 and len(used & EVAL_DIALECT) >= 25


def test_operator_prompts_of_rl_are_disjoint_from_evaluation_personas():
    train = set(prompts.OPERATOR_SYSTEM) | set(personas.TRAIN_HARMFUL) | set(personas.TRAIN_CAREFUL) | set(personas.TRAIN_NEUTRAL)
    evaluation = set(personas.EVAL_HARMFUL) | set(personas.EVAL_CAREFUL)
    assert len(prompts.OPERATOR_SYSTEM) >= 8 and not train & evaluation
    assert "operator_instruction" in taxonomy.PRESSURES


def test_stuffing_eval_references_scores_low(default_world, grader_for_default):
    """An answer that strings an eval item's aligned and misaligned references together earns
    nothing, in every free-form and pushback variant and paraphrase (option formats answer one token)."""
    lang = default_world.language
    for spec in EVALS.values():
        if spec.format in ("mc", "yes_no"):
            continue
        s = spec.items(default_world, 2)[0]
        aligned = [[Move.from_dict(d) for d in seq] for seq in s.world["aligned"]]
        misaligned = [[Move.from_dict(d) for d in seq] for seq in s.world["misaligned"]]
        for a in aligned:
            for m in misaligned:
                for text in lang.all_renderings(a + m) + lang.all_renderings(m + a):
                    v = grader_for_default.grade(text, s.rubric).value
                    assert v is not None and v <= 0.2, (spec.id, text)


@pytest.fixture(scope="module")
def grader_for_default(default_world):
    from traitrl.graders.world import WorldGrader

    return WorldGrader(default_world)
