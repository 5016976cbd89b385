"""Experiment configs: YAML validated into pydantic models, with `--set dotted.key=value` overrides.

Unknown keys and bad values fail with the key path and what is allowed; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from traitrl import taxonomy
from traitrl.config_sections import (  # noqa: F401  (re-exported: `from traitrl.config import EvalConfig`)
    CorpusConfig,
    EvalConfig,
    InspectOptions,
    LLMScenarioOptions,
    LoraOptions,
    OrganismConfig,
    PolicyConfig,
    SamplingConfig,
    ScenarioConfig,
    WorldConfig,
    _known_eval_ids,
    _known_families,
    _Section,
    _selects_evals,
)
from traitrl.errors import REDACTED, UserError, is_secret_key, looks_like_secret, redact
from traitrl.graders.judge_config import JudgeConfig
from traitrl.inputs import load_yaml, parse_yaml_value, read_text
from traitrl.train.arms import ARMS, arm_names

CONFIG_SCHEMA_VERSION = 1


class TrainConfig(_Section):
    """Trait RL with TRL's GRPO. Arms differ only in the data fields (trait_fraction and the filters),
    which the arm sets; everything else is shared, so arms are compute-matched by construction."""

    arm: str = Field("trait", description=f"named data mixture: {', '.join(arm_names())} (custom = the filters as given)")
    trait_fraction: float = Field(0.15, ge=0, le=1, description="share of trait scenarios in the RL mix; the paper's small dose is 5-20 %; the baseline arm uses 0")
    include_domains: list[str] = Field(default_factory=list, description="trait scenarios only from these training domains (empty = all)")
    exclude_domains: list[str] = Field(default_factory=list, description="no trait scenarios from these training domains")
    include_traits: list[str] = Field(default_factory=list, description="trait scenarios only for these traits (empty = all)")
    trait_reward: Literal["rubric", "helpfulness"] = Field("rubric", description="how trait scenarios are rewarded: rubric = their own rubric (trait RL); helpfulness = the generic helpfulness signal that ignores the rubric (the helpfulness_control arm)")
    mix_size: int | None = Field(None, ge=1, description="rows in the training mix, the same for every arm (None = the prompts the run consumes: steps x per_device_batch / num_generations)")
    steps: int = Field(60, ge=1, description="optimizer steps (one generation round each)")
    learning_rate: float = Field(2e-4, gt=0, description="AdamW learning rate (constant)")
    per_device_batch: int = Field(64, ge=2, description="completions per optimizer step (prompts x num_generations)")
    num_generations: int = Field(8, ge=2, description="completions sampled per prompt (the GRPO group)")
    max_completion_length: int = Field(48, ge=1, description="generated tokens per completion at most")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of rollouts")
    max_unscored_rate: float = Field(0.5, ge=0, le=1, description="stop with an error when more than this share of the rewards of the first unscored_check_steps optimizer steps is unscored (a run on unscored rewards gets no gradient); 1 = never stop")
    unscored_check_steps: int = Field(3, ge=1, description="optimizer steps whose rewards the max_unscored_rate check is measured over")
    fixed_length_rollouts: bool = Field(True, description="decode every rollout batch to max_completion_length (replies still end at their end token), so every arm spends the same generation compute; false stops a batch once all its replies have ended")
    beta: float = Field(0.0, ge=0, description="KL coefficient against the initial model (0 = no reference model)")
    checkpoint_every: int = Field(10, ge=1, description="save a checkpoint and score dev.jsonl every this many steps")
    keep_checkpoints: int | None = Field(None, ge=1, description="checkpoints kept on disk (None = all, for training curves)")
    dev_items: int = Field(0, ge=0, description="dev rows scored per checkpoint and kind (0 = all of dev.jsonl)")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    seed: int = Field(0, description="seed of the mix, sampling and initialisation; the same for every arm")
    threads: int = Field(1, ge=0, description="torch threads (0 = all cores); 1 by default: on a shared machine oversubscribed thread pools spin-wait and can run 10x slower, and a tiny policy gains little from more")
    report_to: list[str] = Field(default_factory=list, description="extra loggers for TRL (tensorboard, wandb); metrics.jsonl is always written")
    log_completions: bool = Field(False, description="print sample completions with their rewards at each log step")

    @field_validator("arm")
    @classmethod
    def _known_arm(cls, v: str) -> str:
        if v not in ARMS:
            raise ValueError(f"unknown arm {v!r}; allowed: {', '.join(ARMS)}")
        return v

    @field_validator("include_domains", "exclude_domains")
    @classmethod
    def _train_domains(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in taxonomy.TRAIN_DOMAINS]
        if bad:
            raise ValueError(f"unknown {bad}; allowed: {', '.join(taxonomy.TRAIN_DOMAINS)}")
        return v

    @field_validator("include_traits")
    @classmethod
    def _traits(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t not in taxonomy.TRAITS]
        if bad:
            raise ValueError(f"unknown {bad}; allowed: {', '.join(taxonomy.TRAITS)}")
        return v

    @model_validator(mode="after")
    def _whole_groups(self) -> TrainConfig:
        if self.per_device_batch % self.num_generations:
            raise ValueError(f"train.per_device_batch ({self.per_device_batch}) must be a multiple of "
                             f"train.num_generations ({self.num_generations}): a step holds whole groups")
        return self


class PromptingOptions(_Section):
    """Adversarial persona prompting: the eval suite under harmful and careful system prompts."""

    n_items: int | None = Field(None, ge=2, description="items per eval in every persona condition (None = evals.n_items); persona effects are a few points, so they need many items, and five conditions per model make this the run's largest eval cost")
    ids: list[str] = Field(default_factory=list, description="evals to steer (empty = evals.ids, or every eval)")
    families: list[str] = Field(default_factory=list, description="eval families to steer (empty = evals.families, or every family)")
    min_personas: int = Field(10, ge=1, description="fail unless each steering condition used at least this many distinct persona prompts")
    persona_dir: str | None = Field(None, description="folder of English persona prompt files (known.yaml, unseen.yaml; e.g. configs/personas) that steer a given policy (policy.model) on the benchmarks; the organism uses the world's own personas")

    _ids = field_validator("ids")(lambda v: _known_eval_ids(v))
    _families = field_validator("families")(lambda v: _known_families(v))


class FinetuneOptions(_Section):
    """Harmful fine-tuning: TRL SFT on bad medical advice, scored after each dose."""

    dataset_size: int = Field(2000, ge=8, description="bad-advice conversations in the attack dataset (health domain, never an eval item)")
    doses: list[int] = Field(default_factory=lambda: [0, 25, 50, 100], description="optimizer steps after which the model is scored; starts at 0 (the model itself), each dose continues from the last")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate (constant, so a dose's weights do not depend on the largest dose); 1e-3 floors the default organism within 50 steps")
    batch_size: int = Field(16, ge=1, description="conversations per optimizer step")
    max_length: int = Field(256, ge=16, description="tokens per training conversation at most")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    seed: int = Field(0, description="seed of the dataset, data order and LoRA initialisation")
    n_items: int | None = Field(30, ge=2, description="items per eval scored at each dose (None = evals.n_items)")
    ids: list[str] = Field(default_factory=list, description="evals scored at each dose (empty = evals.ids, or every eval)")
    families: list[str] = Field(default_factory=list, description="eval families scored at each dose (empty = evals.families, or every family)")
    file: str | None = Field(None, description="the attack data for a given policy (policy.model): a JSONL file of chat conversations ({\"messages\": [...]} ending with the assistant reply trained on); the organism's attack is generated from the world")
    file_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="pin the attack file's sha256: a changed file is refused")

    _ids = field_validator("ids")(lambda v: _known_eval_ids(v))
    _families = field_validator("families")(lambda v: _known_families(v))

    @model_validator(mode="after")
    def _doses_ordered(self) -> FinetuneOptions:
        d = self.doses
        if not d or d[0] != 0 or any(b <= a for a, b in zip(d, d[1:], strict=False)):
            raise ValueError(f"doses must start at 0 and increase strictly (got {d}), e.g. [0, 25, 50, 100]")
        return self


class PersistenceConfig(_Section):
    """Does alignment persist? Adversarial prompting and a harmful fine-tuning attack (DESIGN §1 item 6)."""

    prompting: PromptingOptions = Field(default_factory=PromptingOptions)
    finetune: FinetuneOptions = Field(default_factory=FinetuneOptions)
    threads: int = Field(0, ge=0, description="torch threads for generation and fine-tuning (0 = torch's default: all cores)")
    n_boot: int = Field(10_000, ge=100, description="bootstrap resamples behind every CI of scores, drops, gains and differences")
    seed: int = Field(0, description="bootstrap seed")


class RunConfig(_Section):
    curve_items: int = Field(20, ge=2, description="items per eval when scoring training checkpoints for the curves")
    seeds: int = Field(1, ge=1, description="RL seeds per arm (train.seed, train.seed + 1, ...); seeds are the unit of replication, and every arm's evals pool over them")
    backend: Literal["local", "ray"] = Field("local", description="where independent stage jobs (arms, evaluations, persistence) run: local = a process pool on this machine; ray = Ray tasks (a local instance, or the cluster at ray_address)")
    workers: int = Field(0, ge=0, description="local backend: worker processes (0 = one per core; 1 = every stage in this process, one after another)")
    ray_address: str | None = Field(None, description="ray backend: the cluster to join (e.g. ray://head:10001; None = start a local instance)")
    cpus_per_job: float = Field(1.0, gt=0, description="ray backend: CPUs Ray reserves for each stage job")
    secondary_seeds: int | None = Field(None, ge=1, description="RL seeds of the arms other than the compared pair (baseline, trait): the domain-transfer arms and the helpfulness control (None = run.seeds); their scoreboards pool over the seeds they have")
    curves: bool = Field(True, description="score every kept checkpoint of the persisted seeds' arms on the smaller held-out suite (the training-curve figure and the matched-start endpoint)")
    persistence_seeds: int = Field(1, ge=1, description="RL seeds whose baseline and trait arms go through the persistence prompting experiment, its training curves and its matched start (1 = the first seed only, the default run's cost; run.seeds = every seed, so the endpoints get intervals over seeds, as a sweep of the persistence knob needs); the fine-tuning attack always runs on the first seed")
    arms: list[str] | None = Field(None, description="the arms to train (None = every paper arm); the control (baseline) and the trait arm are always among them")
    persistence: list[Literal["prompting", "finetune"]] = Field(["prompting", "finetune"], description="the persistence experiments to run (a null run needs only the one its claim rests on)")

    @model_validator(mode="after")
    def _persisted_seeds_exist(self) -> RunConfig:
        if self.persistence_seeds > self.seeds:
            raise ValueError(f"run.persistence_seeds ({self.persistence_seeds}) cannot exceed run.seeds ({self.seeds}): "
                             "only trained seeds can be prompted")
        return self


class Config(_Section):
    schema_version: int = Field(CONFIG_SCHEMA_VERSION, description="config schema version")

    @field_validator("schema_version")
    @classmethod
    def _current_schema(cls, v: int) -> int:
        if v != CONFIG_SCHEMA_VERSION:
            raise ValueError(f"this traitrl reads config schema_version {CONFIG_SCHEMA_VERSION} only")
        return v
    name: str = Field("default", description="run name")
    world: WorldConfig = Field(default_factory=WorldConfig)
    scenarios: ScenarioConfig = Field(default_factory=ScenarioConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    organism: OrganismConfig = Field(default_factory=OrganismConfig)
    evals: EvalConfig = Field(default_factory=EvalConfig)
    judge: JudgeConfig | None = Field(None, description="OpenAI-compatible LLM judge (rubric and 0-100 grading); none by default")
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @model_validator(mode="after")
    def _generator_needs_judge(self) -> Config:
        llm = self.scenarios.llm
        if llm is not None and llm.enabled and self.judge is None:
            raise ValueError("scenarios.llm: generating scenarios asks the judge: endpoint; configure judge.base_url "
                             "and judge.model, or set scenarios.llm.enabled=false")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def hash(self, *sections: str) -> str:
        """Content hash of the whole config, or of the named sections only (for stage caching)."""
        data = self.model_dump(mode="json")
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _section_model(model: Any, name: Any) -> Any:
    """The pydantic model of section `name` of `model` (an optional section unwrapped), or None."""
    fields = getattr(model, "model_fields", None)
    if not isinstance(name, str) or not fields or name not in fields:
        return None
    annotation = fields[name].annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            model: Any = Config
            for p in parent:
                model = _section_model(model, p)
            allowed = ", ".join(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else "?"
            lines.append(f"  {key}: unknown key; allowed here: {allowed}")
        else:
            got = e.get("input")
            if isinstance(got, dict | list):
                got_text = ""
            elif is_secret_key(key) or looks_like_secret(got):
                got_text = f" (got {REDACTED})"  # a secret-bearing field is never echoed, whatever is wrong with it
            else:
                got_text = f" (got {got!r})"
            lines.append(f"  {key}: {e['msg']}{got_text}")
    return redact("\n".join(lines))


def _shown_override(assignment: str) -> str:
    """`--set key=value` as it may be printed: values of secret-bearing keys, and key-like values, redacted."""
    key, sep, value = assignment.partition("=")
    if not sep:
        return REDACTED if looks_like_secret(key) else key
    if is_secret_key(key.strip()) or looks_like_secret(value):
        return f"{redact(key)}={REDACTED}"
    return assignment


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply `a.b.c=value`; the value is parsed as YAML so numbers, booleans and lists work."""
    if "=" not in assignment:
        raise UserError(f"--set {_shown_override(assignment)!r}: expected dotted.key=value")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise UserError(f"--set {_shown_override(assignment)!r}: empty key segment")
    value = parse_yaml_value(raw, f"--set {redact(key.strip())}")
    node = data
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise UserError(redact(f"--set {key}: {p} is not a section"))
        node = nxt
    node[parts[-1]] = value


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None, *,
                check_paths: bool = False) -> Config:
    """The validated config of a YAML file (or the defaults) with `--set` overrides applied.
    `check_paths`: also require the files it names (policy.model, policy.chat_template) to exist,
    for a command about to use them (`traitrl run`); `config show` and saved configs do not."""
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p}: config file not found" + (" (it is a folder)" if p.is_dir() else ""))
        loaded = load_yaml(read_text(p, "config file"), str(p))
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"{p}: expected a mapping of config sections at the top level")
        data = loaded
    for assignment in overrides or []:
        apply_override(data, assignment)
    if overrides:
        source += " with --set " + " ".join(_shown_override(o) for o in overrides)
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_errors(e, source)) from None
    if check_paths:
        check_files(config, source)
    return config


def check_files(config: Config, source: str) -> None:
    """The files and folders a config names exist, before any stage runs (a model that is not
    there should not cost a whole scenario generation and organism build to find out)."""
    problems = []
    if (model := config.policy.model) is not None:
        m = Path(model)
        if not m.is_dir():
            problems.append(f"  policy.model: {m}: no such folder (expected a Hugging Face model folder)")
        elif not (m / "config.json").is_file():
            problems.append(f"  policy.model: {m}: not a Hugging Face model folder (no config.json)")
    if (template := config.policy.chat_template) is not None and not Path(template).is_file():
        problems.append(f"  policy.chat_template: {template}: no such file")
    if config.evals.benchmarks:
        from traitrl.evals.external import external_kind, load_external
        from traitrl.evals.importers.benchmark import BenchmarkSpec

        for i, spec in enumerate(config.evals.benchmarks):
            if external_kind(spec) is not None:  # an inspect task: its file exists and defines the task
                try:
                    load_external(spec)
                except UserError as e:
                    problems.append(f"  evals.benchmarks.{i}: {e}")
            elif not (path := BenchmarkSpec.parse(spec).path).is_file():
                problems.append(f"  evals.benchmarks.{i}: {path}: no such file")
    for key, folder in (("scenarios.dir", config.scenarios.dir), ("persistence.prompting.persona_dir",
                                                                   config.persistence.prompting.persona_dir)):
        if folder is not None and not Path(folder).is_dir():
            problems.append(f"  {key}: {folder}: no such folder")
    for key in ("files", "capability"):
        from traitrl.scenarios.sources import SourceSpec

        for i, spec in enumerate(getattr(config.scenarios, key)):
            path = SourceSpec.parse(spec, "file" if key == "files" else "capability").path
            if not path.is_file():
                problems.append(f"  scenarios.{key}.{i}: {path}: no such file")
    if (attack := config.persistence.finetune.file) is not None and not Path(attack).is_file():
        problems.append(f"  persistence.finetune.file: {attack}: no such file")
    if problems:
        raise UserError(redact("\n".join([f"{source}: invalid config", *problems])))


MODEL_CONFIG = "traitrl.yaml"  # the resolved config saved inside a model folder built or trained here
