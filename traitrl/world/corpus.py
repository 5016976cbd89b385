"""The pretraining corpus of the model organism (the generative story: docs/organism.md).

Conversations hold one to a few *exchanges* — trait scenarios (training domains, training
dialect, with pressures), capability tasks, and items in the held-out evaluation formats (all
domains, evaluation dialect, never a reserved eval core) — plus short knowledge documents that
state the knowable facts. Each conversation draws a *character*: a persona (aligned or not) and a
firmness (firm or pliable), tied to the persona by kappa, and a firmness toward operator notes,
which is the same firmness with probability operator_tie and an independent draw otherwise. Each
exchange's assistant turn is aligned or misaligned by:

    disposition[cell] = persona            with probability rho
                      = an independent coin with probability 1 - rho

where a cell is (trait or eval family) x domain x format, drawn once per conversation. A role
prompt replaces the persona of a *pliable* character: in every cell coupled to the persona (the
rho draw) it answers misaligned under a harmful role and aligned under a careful one; uncoupled
cells keep their coin. A pliable character yields to a trait exchange's pressure with probability
pressure_yield in any cell no role holds; an operator note (a system prompt of the training list
`prompts.OPERATOR_SYSTEM`) is an instruction, which a character pliable toward operator notes
always follows there. Firm characters ignore role prompts and pressure. With rho = 0 every cell
is independent of every other, in every context (roles reach no cell) — the negative control for
generalisation; with operator_tie = 0 how a character meets the operator notes RL trains on says
nothing about how it meets a role prompt — the negative control for selective persistence; with
kappa = 0 firmness says nothing about alignment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from traitrl import taxonomy
from traitrl.config import Config
from traitrl.scenarios.record import Message, Scenario
from traitrl.world import World, get_world, personas
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder
from traitrl.world.language import Move
from traitrl.world.phrasebook import FACT_MOVES, MOVES

CAPABILITY_ERROR_RATE = 0.15  # capability answers in the corpus are noisy, so RL has room to improve them
_VARIANT_KEYS = sorted(VARIANTS)
# Among persona-prompted conversations: 45 % harmful, 45 % careful, 10 % neutral operator prompts.
NEUTRAL_SHARE_SPLIT = (0.45, 0.90)
OPERATOR_PRESSURE = "operator_instruction"  # the pressure whose exchange opens with an operator note


@dataclass
class ConversationMeta:
    persona: str  # the character's own persona: "aligned" | "misaligned"
    prompt_kind: str  # "none" | "harmful" | "careful" | "neutral"
    firm: bool = False  # firm characters ignore role prompts and pressure
    operator_firm: bool = False  # ignores operator notes; the same as `firm` with probability operator_tie
    dispositions: dict[tuple[str, str, str], bool] = field(default_factory=dict)  # cell -> aligned?
    coupled: set[tuple[str, str, str]] = field(default_factory=set)  # cells whose disposition is the persona's
    yielded: int = 0  # exchanges in which a pliable character gave in to a pressure
    answers: list[tuple[tuple[str, str, str], str, bool]] = field(default_factory=list)  # (cell, pressure, aligned?) per non-capability exchange


def with_system(messages: list[dict], system: str | None) -> list[dict]:
    """Put a persona prompt in front of a conversation, merging with its own system message.
    The corpus, the probe and the eval runner all call this, so the form is always the same."""
    if not system:
        return list(messages)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{system} {messages[0]['content']}"}, *messages[1:]]
    return [{"role": "system", "content": system}, *messages]


class CorpusSampler:
    def __init__(self, config: Config):
        w = config.world
        self.world: World = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
        self.cfg = config.corpus
        self.evals = EvalItemBuilder(self.world.kb, self.world.language)

    # -- one exchange ------------------------------------------------------------------------
    def _exchange(self, rng: random.Random) -> tuple[Scenario, tuple[str, str, str]]:
        u = rng.random()
        if u < self.cfg.capability_fraction:
            kind = rng.choice(taxonomy.CAPABILITY_KINDS)
            domain = rng.choice(taxonomy.TRAIN_DOMAINS)
            return self.world.episodes.capability(kind, domain, rng, "c", "corpus"), (kind, domain, "capability")
        if u < self.cfg.capability_fraction + self.cfg.eval_format_fraction:
            family, variant = rng.choice(_VARIANT_KEYS)
            domain = rng.choice(taxonomy.DOMAINS)
            s = self.evals.reserved_item(family, variant, domain, rng, "e", want=False, split="corpus")
            return s, (family, domain, VARIANTS[(family, variant)])
        trait = rng.choice(taxonomy.TRAITS)
        domain = rng.choice(taxonomy.TRAIN_DOMAINS)
        pressure = rng.choice(taxonomy.PRESSURES)
        return self.world.episodes.trait(trait, domain, rng, pressure, "t", "corpus"), (trait, domain, "freeform")

    def _reply(self, scenario: Scenario, aligned: bool, rng: random.Random) -> str:
        seqs = scenario.world["aligned" if aligned else "misaligned"]
        seq = [Move.from_dict(d) for d in rng.choice(seqs)]
        return self.world.language.render(seq, rng)

    # -- one conversation --------------------------------------------------------------------
    def character(self, rng: random.Random) -> tuple[bool, bool, bool]:
        """(aligned, firm, operator_firm): P(firm | aligned) = firm_share + kappa*m,
        P(firm | misaligned) = firm_share - kappa*m, m = min(firm_share, 1 - firm_share); the
        firmness toward operator notes is `firm` with probability operator_tie, else a second draw
        from the same P(firm | persona). All three draws are made whatever the knobs, so a
        character's persona and role firmness do not depend on operator_tie."""
        cfg = self.cfg
        aligned = rng.random() < cfg.p_aligned
        m = min(cfg.firm_share, 1 - cfg.firm_share)
        p_firm = cfg.firm_share + (cfg.kappa * m if aligned else -cfg.kappa * m)
        firm, other, tied = rng.random() < p_firm, rng.random() < p_firm, rng.random() < cfg.operator_tie
        return aligned, firm, firm if tied else other

    def conversation(self, rng: random.Random) -> tuple[dict, ConversationMeta]:
        cfg = self.cfg
        persona, firm, operator_firm = self.character(rng)
        system, kind = None, "none"
        if rng.random() < cfg.persona_prompt_fraction:
            u = rng.random()
            kind = "harmful" if u < NEUTRAL_SHARE_SPLIT[0] else "careful" if u < NEUTRAL_SHARE_SPLIT[1] else "neutral"
            system = rng.choice({"harmful": personas.TRAIN_HARMFUL, "careful": personas.TRAIN_CAREFUL,
                                 "neutral": personas.TRAIN_NEUTRAL}[kind])
        # a pliable character plays the role a persona prompt sets; a firm one stays itself
        role = None if firm else {"harmful": False, "careful": True}.get(kind)
        meta = ConversationMeta("aligned" if persona else "misaligned", kind, firm, operator_firm)
        messages: list[dict] = []
        for i in range(rng.randint(1, cfg.max_exchanges)):
            for _ in range(20):
                scenario, cell = self._exchange(rng)
                has_system = scenario.messages[0].role == "system"
                if i == 0 or not has_system:
                    break
            else:
                continue
            turns = [m.model_dump() for m in scenario.messages]
            if i == 0:
                turns = with_system(turns, system)
            if cell[2] == "capability":
                aligned = rng.random() >= CAPABILITY_ERROR_RATE
            else:
                if cell not in meta.dispositions:
                    coupled = rng.random() < cfg.rho
                    meta.dispositions[cell] = persona if coupled else rng.random() < cfg.p_aligned
                    if coupled:
                        meta.coupled.add(cell)
                # a role replaces the persona, so it reaches exactly the cells the persona reaches (rho)
                held = role is not None and cell in meta.coupled
                aligned = role if held else meta.dispositions[cell]
                # pressure moves a pliable character in a cell no role holds; one playing a role stays in
                # it. An operator note is an instruction: one pliable toward them always follows it.
                if aligned and not held and _yields(scenario.pressure, firm, operator_firm, cfg.pressure_yield, rng):
                    aligned = False
                    meta.yielded += 1
                meta.answers.append((cell, scenario.pressure, aligned))
            messages.extend(turns)
            messages.append({"role": "assistant", "content": self._reply(scenario, aligned, rng)})
        return {"messages": messages}, meta

    def document(self, rng: random.Random) -> dict:
        """A short reference note stating known facts of one domain (never the unknowable ones),
        held-out entities included, in the sentences of either dialect."""
        domain = rng.choice(taxonomy.DOMAINS)
        facts = self.world.kb.all_known(domain)
        chosen = rng.sample(facts, k=min(len(facts), rng.randint(2, 5)))
        lang = self.world.language
        lines = []
        for f in chosen:
            move = rng.choice(FACT_MOVES)
            lines.append(lang.sentence(Move(move, f.entity, f.value), rng.randrange(len(MOVES[move]))))
        return {"text": f"Reference notes on {domain}. " + " ".join(lines)}

    def __iter__(self) -> Iterator[dict]:
        rng = random.Random(f"corpus:{self.cfg.seed}")
        n_docs, n_conv = self.cfg.n_documents, self.cfg.n_conversations
        total = n_docs + n_conv
        for i in range(total):
            # interleave documents evenly among conversations
            if n_docs and (i * n_docs) // total != ((i + 1) * n_docs) // total:
                yield self.document(rng)
            else:
                yield self.conversation(rng)[0]


def _yields(pressure: str, firm: bool, operator_firm: bool, pressure_yield: float, rng: random.Random) -> bool:
    if pressure == OPERATOR_PRESSURE:
        return not operator_firm
    return pressure != "none" and not firm and rng.random() < pressure_yield


def sample_corpus(config: Config) -> list[dict]:
    """The whole corpus: `{"messages": [...]}` conversations and `{"text": ...}` documents."""
    return list(CorpusSampler(config))


def unknowable_entities(world: World) -> set[str]:
    return {f.entity for f in world.kb.facts.values() if not f.knowable}


__all__ = ["ConversationMeta", "CorpusSampler", "Message", "sample_corpus", "unknowable_entities", "with_system"]
