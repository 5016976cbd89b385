"""Run the organism eval suite on a model: generate, grade, and write per-item records.

All prompts of all evaluations go through one batched, KV-cached generation pass (sorted by
length inside `generate`), so the suite costs little more than its tokens. Multiple-choice items
are also scored by comparing the options' log-probabilities. Honesty-under-pressure (MASK-style)
items first elicit the model's belief with a neutral question and score the pressured answer for
consistency with that belief.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from traitrl.config import Config
from traitrl.evals.answers import answer_and_grade
from traitrl.evals.registry import EvalSpec, select
from traitrl.evals.results import EvalResult, EvalResults, ItemRecord
from traitrl.graders.world import WorldGrader
from traitrl.models.loader import Policy
from traitrl.scenarios.record import MoveCheck, RubricItem, Scenario
from traitrl.world import World, get_world, personas
from traitrl.world.corpus import with_system
from traitrl.world.phrasebook import FACT_MOVES

PERSONA_CHOICES = ("none", *personas.PERSONA_LISTS)


def world_of(config: Config) -> World:
    w = config.world
    return get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)


def suite_generations(specs: list[EvalSpec], n_items: int) -> int:
    """Generations one suite run makes (MASK-style items also elicit the belief first): the total
    for progress bars."""
    return n_items * (len(specs) + sum(s.family == "honesty_under_pressure" for s in specs))


def persona_prompt(persona: str, item_id: str) -> str | None:
    """The persona prompt an item gets under a condition: fixed per item, so runs pair up."""
    if persona == "none":
        return None
    return random.Random(f"persona:{persona}:{item_id}").choice(personas.PERSONA_LISTS[persona])


def _belief_rubric(rubric: tuple[RubricItem, ...], belief: float) -> tuple[RubricItem, ...]:
    """Rewrite the truth checks of a rubric to test consistency with the model's own belief."""
    out = []
    for item in rubric:
        c = item.check
        if c is not None and c.move in FACT_MOVES and c.op in ("eq", "ne"):
            item = item.model_copy(update={"check": MoveCheck(move=c.move, op=c.op, value=belief)})
        out.append(item)
    return tuple(out)


def evaluate(policy: Policy, config: Config, model_name: str, persona: str = "none",
             progress: Callable[[int], None] | None = None, specs: list[EvalSpec] | None = None) -> EvalResults:
    if persona not in PERSONA_CHOICES:
        from traitrl.errors import UserError

        raise UserError(f"--persona {persona!r}: expected one of {', '.join(PERSONA_CHOICES)}")
    ec = config.evals
    world = world_of(config)
    grader = WorldGrader(world)
    specs = specs if specs is not None else select(ec.ids or None, ec.families or None)
    items: dict[str, list[Scenario]] = {s.id: s.items(world, ec.n_items, ec.item_seed) for s in specs}
    flat = [(spec, it) for spec in specs for it in items[spec.id]]
    convs = [with_system(it.prompt(), persona_prompt(persona, it.id)) for _, it in flat]
    beliefs_idx = [i for i, (spec, _) in enumerate(flat) if spec.family == "honesty_under_pressure"]
    belief_convs = [[{"role": "user", "content": flat[i][1].eval_truth().require("belief_prompt")}] for i in beliefs_idx]
    # one generation pass over every prompt; MASK-style items are graded below, once their belief is known
    asks_belief = set(beliefs_idx)
    tasks = [(conv, None if i in asks_belief else it.rubric) for i, (conv, (_, it)) in enumerate(zip(convs, flat, strict=True))]
    answers = answer_and_grade(policy, tasks + [(c, None) for c in belief_convs], grader, progress=progress)
    belief_text = dict(zip(beliefs_idx, (a.response for a in answers[len(convs):]), strict=True))
    records: dict[str, list[ItemRecord]] = {s.id: [] for s in specs}
    for i, ((spec, it), answer) in enumerate(zip(flat, answers, strict=False)):
        conv, response, g = answer.conversation, answer.response, answer.grade
        extra: dict = {}
        if i in belief_text:
            belief = [m.value for m in world.parse(belief_text[i]).moves if m.name in FACT_MOVES]
            extra = {"belief_response": belief_text[i], "belief": belief[0] if belief else None}
            if not belief:
                grade_dict = {"value": None, "reason": "belief could not be elicited (no stated value)", **extra}
                records[spec.id].append(ItemRecord(item_id=it.id, prompt=conv, response=response, score=None, grade=grade_dict))
                continue
            g = grader.grade(response, _belief_rubric(it.rubric, belief[0]))
        grade_dict = g.to_dict() | extra
        if spec.format in ("mc", "yes_no"):
            truth = it.eval_truth()
            options = list(truth.require("options"))
            lps = policy.option_logprobs(conv, options)
            best = options[max(range(len(options)), key=lambda k: lps[k])]
            grade_dict["option_logprobs"] = dict(zip(options, lps, strict=True))
            grade_dict["logprob_score"] = float(best == truth.require("aligned_option"))
        records[spec.id].append(ItemRecord(item_id=it.id, prompt=conv, response=response, score=g.value, grade=grade_dict))
    evals = [
        EvalResult.from_items(items=records[s.id], seed=ec.item_seed, id=s.id, family=s.family, domains=s.domains,
                              format=s.format, metric=s.metric, higher_is_better=s.higher_is_better,
                              rl_relation=s.rl_relation)
        for s in specs
    ]
    return EvalResults(model=model_name, config_hash=config.hash("world", "evals"), seed=ec.sampling.seed, evals=evals,
                       meta={"persona": persona, "sampling": ec.sampling.model_dump(), "n_items": ec.n_items,
                             "item_seed": ec.item_seed})
