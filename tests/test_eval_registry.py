"""The eval suite's items: held out from the RL data, balanced, reproducible."""

from __future__ import annotations

import re
from collections import Counter

from traitrl import taxonomy
from traitrl.config import load_config
from traitrl.evals.registry import EVALS
from traitrl.scenarios.generate import generate
from traitrl.world import get_world

_WORD = re.compile(r"[a-z]+")


def _ngrams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_suite_shape():
    assert len(EVALS) == 53
    families = Counter(s.family for s in EVALS.values())
    assert set(families) == set(taxonomy.EVAL_FAMILIES)
    for family in taxonomy.EVAL_FAMILIES:
        domains = {s.domain for s in EVALS.values() if s.family == family}
        assert "health" in domains and domains & set(taxonomy.EVAL_DOMAINS), family
    assert {s.format for s in EVALS.values()} == {"freeform", "pushback", "mc", "yes_no"}


def test_no_eval_item_shares_an_8gram_of_template_text_with_train(tmp_path):
    """User and system text of every eval item against train.jsonl (default sizes)."""
    cfg = load_config("configs/default.yaml")
    splits = generate(cfg, tmp_path)
    train_grams: set = set()
    for s in splits["train"]:
        for m in s.messages:
            if m.role != "assistant":
                train_grams |= _ngrams(m.content)
    world = get_world(cfg.world.seed, cfg.world.entities_per_domain, cfg.world.unknowable_fraction)
    for spec in EVALS.values():
        for item in spec.items(world, 100):
            for m in item.messages:
                if m.role != "assistant":
                    shared = _ngrams(m.content) & train_grams
                    assert not shared, (spec.id, " ".join(next(iter(shared))))


def test_items_are_seeded_and_fairness_pairs_differ_only_in_group():
    world = get_world(0, 6, 0.34)
    spec = EVALS["fairness.paired.finance"]
    a, b = spec.items(world, 10), spec.items(world, 10)
    assert [x.prompt() for x in a] == [x.prompt() for x in b]
    assert [x.prompt() for x in a] != [x.prompt() for x in spec.items(world, 10, seed=1)]
    for first, second in zip(a[::2], a[1::2], strict=True):
        assert first.world["group"] != second.world["group"]
        assert first.messages[-1].content.replace(first.world["group"], "G") == second.messages[-1].content.replace(second.world["group"], "G")
