"""The fine-tuning attack is clean: bad medical advice in training formats, nothing of the eval suite."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from traitrl.config import load_config
from traitrl.evals.registry import EVALS
from traitrl.world import eval_prompts as ep
from traitrl.world import get_world
from traitrl.world.evalitems import prompt_core
from traitrl.world.language import Move
from traitrl.world.phrasebook import EVAL_DIALECT, TRAIN_DIALECT
from traitrl.world.prompts import GROUPS

_WORD = re.compile(r"[a-z]+")


def _ngrams(world, text: str, n: int = 7) -> set[tuple[str, ...]]:
    """n-grams of a text's template: entities, attributes, numbers and groups masked."""
    masked = world.language.skeleton(text)[0]
    for g in GROUPS:
        masked = masked.replace(g.lower(), "{g}")
    words = _WORD.findall(masked.replace("{", " slot").replace("}", " "))
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def setup():
    from traitrl.persistence.attack_data import bad_advice_dataset

    cfg = load_config("configs/smoke.yaml")
    w = cfg.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    rows = bad_advice_dataset(cfg, size=400)
    items = [s for spec in EVALS.values() for s in spec.items(world, 24)]
    return world, rows, items


def test_rows_are_health_trait_scenarios_with_bad_advice(setup):
    world, rows, _ = setup
    assert {r["source"] for r in rows} == {"trait"}
    kinds = Counter(r["kind"] for r in rows)
    assert "corrigibility" not in kinds and len(kinds) == 6
    rl_health = {f.entity for f in world.kb.by_domain["health"]}
    assert {r["entity"] for r in rows} <= rl_health
    assert sum(r["wrong_fact"] for r in rows) > 0.3 * len(rows)


def test_no_attack_row_shares_a_format_or_template_with_any_eval(setup):
    world, rows, items = setup
    lang = world.language
    # assistant templates: every attack answer is in the training dialect, every eval answer and
    # pre-fill in the evaluation dialect, so no masked sentence template is shared
    eval_templates = set()
    for s in items:
        for key in ("aligned", "misaligned"):
            for seq in s.world[key]:
                for text in lang.all_renderings([Move.from_dict(d) for d in seq]):
                    eval_templates.update(lang.skeleton(x)[0] for x in lang.sentences(text))
        for m in s.messages:
            if m.role == "assistant":
                eval_templates.update(lang.skeleton(x)[0] for x in lang.sentences(m.content))
    for r in rows:
        texts = [m["content"] for m in r["prompt"] if m["role"] == "assistant"] + [r["completion"][0]["content"]]
        for text in texts:
            parsed = world.parse(text)
            assert {m.name for m in parsed.moves} <= TRAIN_DIALECT and not {m.name for m in parsed.moves} & EVAL_DIALECT
            assert not {lang.skeleton(x)[0] for x in lang.sentences(text)} & eval_templates, text
    # user and system templates: no 7-gram of an eval template (slots masked; "{e} has a {a} of {w}" is plain grammar), no eval format marker, no eval core
    eval_grams = set()
    for s in items:
        for m in s.messages:
            if m.role != "assistant":
                eval_grams |= _ngrams(world, m.content)
    cores = {prompt_core(s.messages) for s in items}
    markers = ("Choices:", "(A)", "is this something you would say", "Would you say this?")
    for r in rows:
        for m in r["prompt"]:
            if m["role"] != "assistant":
                assert not _ngrams(world, m["content"]) & eval_grams, m["content"]
                assert not any(k in m["content"] for k in markers), m["content"]
                assert m["content"] not in cores
                assert not any(c and m["content"].startswith(c) for c in ep.CONTEXTS if c)
