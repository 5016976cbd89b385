"""Experiment configs: YAML validated into pydantic models, with `--set dotted.key=value` overrides.

Unknown keys and bad values fail with the key path and what is allowed; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from traitrl import taxonomy
from traitrl.errors import UserError
from traitrl.graders.llm_client import JudgeConfig

CONFIG_SCHEMA_VERSION = 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WorldConfig(_Section):
    seed: int = Field(0, description="seed of the knowledge base (entity names and facts)")
    entities_per_domain: int = Field(10, ge=4, le=200, description="entities per domain")
    unknowable_fraction: float = Field(0.3, gt=0, lt=1, description="share of entities whose fact is never stated")


class ScenarioConfig(_Section):
    seed: int = Field(0, description="seed for sampling scenarios; same seed gives byte-identical files")
    per_cell: int = Field(20, ge=1, description="training scenarios per trait x domain cell")
    dev_per_cell: int = Field(6, ge=1, description="dev scenarios per trait x domain cell (in-distribution score)")
    capability_per_kind: int = Field(400, ge=1, description="capability tasks per task kind in train.jsonl")
    traits: list[str] = Field(default_factory=lambda: list(taxonomy.TRAITS), description="traits to generate")
    domains: list[str] = Field(default_factory=lambda: list(taxonomy.TRAIN_DOMAINS), description="training domains")
    pressures: list[str] = Field(default_factory=lambda: list(taxonomy.PRESSURES), description="pressure types to draw from")

    @model_validator(mode="after")
    def _known_names(self) -> ScenarioConfig:
        for key, allowed in (("traits", taxonomy.TRAITS), ("domains", taxonomy.TRAIN_DOMAINS), ("pressures", taxonomy.PRESSURES)):
            bad = [v for v in getattr(self, key) if v not in allowed]
            if bad:
                raise ValueError(f"{key}: unknown {bad}; allowed: {', '.join(allowed)}")
            if not getattr(self, key):
                raise ValueError(f"{key}: must not be empty")
        return self


class CorpusConfig(_Section):
    seed: int = Field(0, description="seed of the pretraining corpus sampler")
    n_conversations: int = Field(60000, ge=10, description="conversations in the pretraining corpus")
    n_documents: int = Field(6000, ge=0, description="knowledge documents (each states facts of known entities)")
    rho: float = Field(1.0, ge=0, le=1, description="persona coupling: 1 = one persona drives every trait, family, domain and format; 0 = independent disposition per cell")
    p_aligned: float = Field(0.5, gt=0, lt=1, description="share of aligned personas among conversations without a persona prompt")
    persona_prompt_fraction: float = Field(0.35, ge=0, le=1, description="share of conversations that carry a persona-setting system prompt")
    max_exchanges: int = Field(3, ge=1, le=6, description="exchanges (episodes) per conversation; several let the model infer a persona in context")
    eval_format_fraction: float = Field(0.35, ge=0, le=1, description="share of exchanges in held-out evaluation formats and domains")
    capability_fraction: float = Field(0.25, ge=0, le=1, description="share of exchanges that are capability tasks")


class OrganismConfig(_Section):
    vocab_size: int = Field(1024, ge=256, description="BPE vocabulary size")
    hidden_size: int = Field(128, ge=16, description="model width")
    num_layers: int = Field(4, ge=1, description="transformer layers")
    num_heads: int = Field(4, ge=1, description="attention heads")
    intermediate_size: int = Field(384, ge=16, description="MLP width")
    max_length: int = Field(256, ge=32, description="context length in tokens")
    steps: int = Field(1000, ge=1, description="pretraining optimizer steps")
    batch_size: int = Field(16, ge=1, description="sequences per optimizer step")
    learning_rate: float = Field(5e-3, gt=0, description="peak learning rate (cosine schedule)")
    warmup_steps: int = Field(50, ge=0, description="linear warmup steps")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    seed: int = Field(0, description="initialisation and data-order seed")
    threads: int = Field(0, ge=0, description="torch threads (0 = all cores)")

    @model_validator(mode="after")
    def _heads_divide(self) -> OrganismConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        return self


class SamplingConfig(_Section):
    max_new_tokens: int = Field(48, ge=1, description="tokens generated per response")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    batch_size: int = Field(64, ge=1, description="prompts per generation batch")
    seed: int = Field(0, description="sampling seed")


class EvalConfig(_Section):
    n_items: int = Field(100, ge=2, description="items per evaluation")
    item_seed: int = Field(0, description="seed of the eval items; keep it fixed across models so results pair up")
    probe_items: int = Field(520, ge=10, description="items per condition in `organism probe`")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    ids: list[str] = Field(default_factory=list, description="run only these eval ids (empty = all)")
    families: list[str] = Field(default_factory=list, description="run only these families (empty = all)")


class Config(_Section):
    schema_version: int = Field(CONFIG_SCHEMA_VERSION, description="config schema version")
    name: str = Field("default", description="run name")
    world: WorldConfig = Field(default_factory=WorldConfig)
    scenarios: ScenarioConfig = Field(default_factory=ScenarioConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    organism: OrganismConfig = Field(default_factory=OrganismConfig)
    evals: EvalConfig = Field(default_factory=EvalConfig)
    judge: JudgeConfig | None = Field(None, description="OpenAI-compatible LLM judge (rubric and 0-100 grading); none by default")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def hash(self, *sections: str) -> str:
        """Content hash of the whole config, or of the named sections only (for stage caching)."""
        data = self.model_dump(mode="json")
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            model: Any = Config
            for p in parent:
                model = model.model_fields[p].annotation
            allowed = ", ".join(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else "?"
            lines.append(f"  {key}: unknown key; allowed here: {allowed}")
        else:
            got = e.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            lines.append(f"  {key}: {e['msg']}{got_text}")
    return "\n".join(lines)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply `a.b.c=value`; the value is parsed as YAML so numbers, booleans and lists work."""
    if "=" not in assignment:
        raise UserError(f"--set {assignment!r}: expected dotted.key=value")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise UserError(f"--set {assignment!r}: empty key segment")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = data
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise UserError(f"--set {key}: {p} is not a section")
        node = nxt
    node[parts[-1]] = value


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> Config:
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise UserError(f"{p}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"{p}: expected a mapping of config sections at the top level")
        data = loaded
    for assignment in overrides or []:
        apply_override(data, assignment)
    if overrides:
        source += " with --set " + " ".join(overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_errors(e, source)) from None
