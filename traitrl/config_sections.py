"""The config sections of the world, the organism, evaluation and the policy (the rest of the
config, and loading, is `traitrl.config`, which re-exports every name here)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from traitrl import taxonomy
from traitrl.graders.judge_config import StrictNumbers


class _Section(StrictNumbers):
    # allow_inf_nan=False: `.inf` as a learning rate, or NaN anywhere, is refused with the key path
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _known_eval_ids(ids: list[str]) -> list[str]:
    if ids:
        # the registry is light (no torch) and needed only when ids are given
        from traitrl.evals.registry import EVALS

        unknown = [i for i in ids if i not in EVALS]
        if unknown:
            raise ValueError(f"unknown eval ids {unknown}; see `traitrl eval --list`")
    return ids


def _known_families(families: list[str]) -> list[str]:
    unknown = [f for f in families if f not in taxonomy.EVAL_FAMILIES]
    if unknown:
        raise ValueError(f"unknown eval families {unknown}; allowed: {', '.join(taxonomy.EVAL_FAMILIES)}")
    return families


def _benchmark_spec(spec: str) -> str:
    """A benchmark spec's syntax and format name (errors name evals.benchmarks.N); the files, and
    inspect tasks, are read when a run starts (`config.check_files`)."""
    from traitrl.errors import UserError
    from traitrl.evals.external import check_external, external_kind
    from traitrl.evals.importers.benchmark import BenchmarkSpec

    try:
        if external_kind(spec) is not None:
            check_external(spec)
        else:
            BenchmarkSpec.parse(spec)
    except UserError as e:
        raise ValueError(str(e)) from None
    return spec


def _selects_evals(ids: list[str], families: list[str]) -> None:
    """Ids and families together must leave at least one eval (an empty suite scores nothing)."""
    if ids and families:
        from traitrl.evals.registry import EVALS

        if not any(EVALS[i].family in families for i in ids):
            raise ValueError(f"ids {ids} and families {families} together select no eval")


class WorldConfig(_Section):
    seed: int = Field(0, description="seed of the knowledge base (entity names and facts)")
    entities_per_domain: int = Field(10, ge=4, le=200, description="entities per domain")
    unknowable_fraction: float = Field(0.3, gt=0, lt=1, description="share of entities whose fact is never stated")


def _source(kind: str):
    """A `scenarios.files` / `scenarios.capability` entry's syntax (errors name the entry's key);
    the files are read when the scenarios are assembled, and checked when a run starts."""

    def check(spec: str) -> str:
        from traitrl.errors import UserError
        from traitrl.scenarios.sources import SourceSpec

        try:
            SourceSpec.parse(spec, kind)  # type: ignore[arg-type]
        except UserError as e:
            raise ValueError(str(e)) from None
        return spec

    return AfterValidator(check)


class LLMScenarioOptions(_Section):
    """LLM-generated trait scenarios as a source of a given policy's scenarios (`traitrl scenarios
    assemble`, and the assembly stage of `traitrl run`), asked of the `judge:` endpoint."""

    enabled: bool = Field(True, description="generate scenarios over the scenarios.traits x domains x pressures grid (pressure none left out); false keeps the settings but generates nothing (a null section is off too)")
    per_cell: int = Field(1, ge=1, description="scenarios asked per trait x domain x pressure cell")
    limit: int | None = Field(None, ge=1, description="ask at most this many cells (a seeded subset, scenarios.seed; None = the whole grid)")
    max_tokens: int = Field(2048, ge=1, description="completion-token limit of each generator request (a scenario with its rubric is JSON of several hundred tokens)")
    max_turns: int = Field(5, ge=1, le=15, description="messages per generated conversation at most")
    temperature: float | None = Field(None, ge=0, le=2, description="sampling temperature of the generator (None = judge.temperature); at 0, variety comes from the variant number in the prompt")
    dedup_threshold: float = Field(0.5, gt=0, le=1, description="drop a generated scenario whose user turns share at least this share of word 5-grams with an earlier one")


class ScenarioConfig(_Section):
    seed: int = Field(0, description="seed for sampling scenarios; same seed gives byte-identical files")
    per_cell: int = Field(20, ge=1, description="training scenarios per trait x domain cell")
    dev_per_cell: int = Field(6, ge=1, description="dev scenarios per trait x domain cell (in-distribution score)")
    capability_per_kind: int = Field(400, ge=1, description="capability tasks per task kind in train.jsonl")
    traits: list[str] = Field(default_factory=lambda: list(taxonomy.TRAITS), description="traits to generate")
    domains: list[str] = Field(default_factory=lambda: list(taxonomy.TRAIN_DOMAINS), description="training domains")
    pressures: list[str] = Field(default_factory=lambda: list(taxonomy.PRESSURES), description="pressure types to draw from")
    dir: str | None = Field(None, description="folder with your own train.jsonl and dev.jsonl (scenario rows: LLM-generated trait scenarios, capability tasks) that `traitrl run` trains on instead of generating from the world; exclusive with the sources below (files, capability, llm), one of which a given policy (policy.model) needs")
    files: list[Annotated[str, _source("file")]] = Field(default_factory=list, description="your own scenario JSONL files as PATH[@sha256=HEX] (any rows: judge-graded trait scenarios, capability tasks), assembled with the other sources into RUN/data (`traitrl scenarios assemble`); a row that appears in several sources is kept once, from the first listed (files, then capability, then llm)")
    file_splits: Literal["auto", "marked", "hash"] = Field("auto", description="how rows of scenarios.files are split: marked = each keeps the split its `split` field names (train or dev); hash = by a hash of its id, like imported and generated rows (dev_fraction); auto = marked for a file with any dev row, hash for a file of train rows only")
    capability: list[Annotated[str, _source("capability")]] = Field(default_factory=list, description="standard RL datasets imported as capability rows graded by the numeric verifier: FORMAT:PATH[@sha256=HEX] with FORMAT gsm8k or math (see `traitrl scenarios import`)")
    capability_instruction: str = Field("", description="text appended to every imported question, e.g. how to state the final answer")
    llm: LLMScenarioOptions | None = Field(None, description="LLM-generated trait scenarios from the judge: endpoint (None = off)")
    dev_fraction: float = Field(0.15, gt=0, lt=1, description="share of the assembled rows put in dev.jsonl, chosen by a hash of each row's id (deterministic: a row's split depends only on its id), except file rows that keep their marked split")

    @field_validator("files", "capability")
    @classmethod
    def _listed_once(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an entry is listed twice")
        return v

    @model_validator(mode="after")
    def _known_names(self) -> ScenarioConfig:
        for key, allowed in (("traits", taxonomy.TRAITS), ("domains", taxonomy.TRAIN_DOMAINS), ("pressures", taxonomy.PRESSURES)):
            bad = [v for v in getattr(self, key) if v not in allowed]
            if bad:
                raise ValueError(f"{key}: unknown {bad}; allowed: {', '.join(allowed)}")
            if not getattr(self, key):
                raise ValueError(f"{key}: must not be empty")
        sources = [k for k in ("files", "capability") if getattr(self, k)]
        if self.llm is not None and self.llm.enabled:
            sources.append("llm")
        if self.dir is not None and sources:
            named = " and ".join(f"scenarios.{k}" for k in ["dir", *sources])
            raise ValueError(f"{named} are exclusive: scenarios.dir is a folder made already, the sources are "
                             "assembled into the run; set scenarios.dir=null or drop the sources")
        return self


class CorpusConfig(_Section):
    seed: int = Field(0, description="seed of the pretraining corpus sampler")
    n_conversations: int = Field(40000, ge=10, description="conversations in the pretraining corpus")
    n_documents: int = Field(4000, ge=0, description="knowledge documents (each states facts of known entities)")
    rho: float = Field(1.0, ge=0, le=1, description="persona coupling: 1 = one persona drives every trait, family, domain and format; 0 = independent disposition per cell")
    p_aligned: float = Field(0.5, gt=0, lt=1, description="share of aligned personas among conversations without a persona prompt")
    persona_prompt_fraction: float = Field(0.75, ge=0, le=1, description="share of conversations that carry a persona-setting system prompt; at 0.5 the default organism did not learn to follow them (docs/organism.md)")
    max_exchanges: int = Field(3, ge=1, le=6, description="exchanges (episodes) per conversation; several let the model infer a persona in context")
    eval_format_fraction: float = Field(0.35, ge=0, le=1, description="share of exchanges in held-out evaluation formats and domains")
    capability_fraction: float = Field(0.25, ge=0, le=1, description="share of exchanges that are capability tasks")
    kappa: float = Field(0.5, ge=0, le=1, description="how far firmness is tied to alignment (docs/organism.md): P(firm | aligned) = firm_share + kappa*m, P(firm | misaligned) = firm_share - kappa*m, m = min(firm_share, 1 - firm_share); 0 = independent")
    firm_share: float = Field(0.2, ge=0, le=1, description="base share of firm characters; firm characters ignore role prompts and never yield to pressure, pliable ones follow role prompts")
    pressure_yield: float = Field(0.25, ge=0, le=1, description="probability that a pliable character playing no role yields (answers misaligned) to a pressure other than an operator note in a trait exchange")
    operator_tie: float = Field(1.0, ge=0, le=1, description="how far a character's firmness toward operator notes (which it follows when pliable) is its firmness toward role prompts: 1 = one firmness; 0 = an independent draw, the null that predicts no selective persistence (docs/organism.md)")


class OrganismConfig(_Section):
    vocab_size: int = Field(1024, ge=256, description="BPE vocabulary size")
    hidden_size: int = Field(128, ge=16, description="model width")
    num_layers: int = Field(4, ge=1, description="transformer layers")
    num_heads: int = Field(4, ge=1, description="attention heads")
    intermediate_size: int = Field(384, ge=16, description="MLP width")
    max_length: int = Field(256, ge=32, description="context length in tokens")
    steps: int = Field(2000, ge=1, description="pretraining optimizer steps (2,000: at 1,000 the organism reads known harmful role prompts at about a fifth of the story's strength, docs/organism.md section 4a)")
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
    batch_size: int = Field(128, ge=1, description="prompts per generation batch")
    seed: int = Field(0, description="sampling seed")


class InspectOptions(_Section):
    """Who answers `inspect:` benchmark tasks (`traitrl.evals.inspect_bridge`)."""

    model: str | None = Field(None, description="inspect_ai model that answers the tasks: None = the evaluated model folder itself, as an inspect `hf/` model on policy.device; vllm = that folder served by inspect's vLLM provider (needs vllm; policy.vllm_max_model_length and vllm_tensor_parallel_size apply); any other name = a served copy of it, e.g. openai-api/vllm/my-policy with base_url and the key in VLLM_API_KEY")
    base_url: str | None = Field(None, description="base URL of the served model's OpenAI-compatible API, e.g. http://localhost:8000/v1")

    @model_validator(mode="after")
    def _url_needs_model(self) -> InspectOptions:
        if self.base_url is not None and self.model is None:
            raise ValueError("base_url is set but model is not: name the served model, e.g. model: openai-api/vllm/my-policy")
        return self


class EvalConfig(_Section):
    n_items: int = Field(100, ge=2, description="items per evaluation")
    item_seed: int = Field(0, description="seed of the eval items; keep it fixed across models so results pair up")
    probe_items: int = Field(1100, ge=10, description="items per condition in `organism probe`")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    threads: int = Field(1, ge=0, description="torch threads for generation (0 = torch's default); one thread avoids OpenMP oversubscription, which slows small models many-fold on a busy CPU")
    ids: list[str] = Field(default_factory=list, description="run only these eval ids (empty = all)")
    families: list[str] = Field(default_factory=list, description="run only these families (empty = all)")
    inspect: InspectOptions = Field(default_factory=InspectOptions)
    benchmarks: list[Annotated[str, AfterValidator(_benchmark_spec)]] = Field(default_factory=list, description="benchmarks scored on every model: files as FORMAT:PATH[@sha256=HEX] (formats: anthropic-mwe, healthbench, freeform) and inspect_ai tasks as inspect:TASK_FILE.py[@TASK] or inspect:MODULE:TASK (see evals.inspect); relative paths are from the working directory; with a given policy (policy.model) they are the scoreboard and the persistence experiments' evals; `traitrl eval` and `traitrl persist` score them when no --benchmark is given")
    health_benchmarks: list[str] = Field(default_factory=list, description="benchmark ids (FORMAT:FILE_STEM, e.g. freeform:medical_questions) counted as health evals in the scoreboard's health split and the fine-tuning attack's health subset; healthbench files always are")
    world_suite: Literal["auto"] | bool = Field("auto", description="score the organism's held-out world suite: auto = for the organism only (a given policy does not speak the world's invented language); true or false to force it")

    _ids = field_validator("ids")(lambda v: _known_eval_ids(v))
    _families = field_validator("families")(lambda v: _known_families(v))

    @field_validator("benchmarks")
    @classmethod
    def _benchmarks_once(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a benchmark is listed twice")
        return v

    @model_validator(mode="after")
    def _selects_something(self) -> EvalConfig:
        _selects_evals(self.ids, self.families)
        return self


class PolicyConfig(_Section):
    """The policy when it is not the organism: any local Hugging Face causal LM, trained through TRL.

    Every key maps onto what transformers and TRL already offer (dtype, chat template, vLLM
    generation, activation checkpointing); the defaults leave the organism's CPU path unchanged."""

    model: str | None = Field(None, description="local Hugging Face causal-LM folder (config.json, weights, tokenizer); `traitrl train` starts from it when --init is omitted (None = give --init, e.g. an organism)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field("float32", description="weights dtype when loading: float32 (the organism's; exact on a CPU), bfloat16 (halves GPU memory for 1-8 B models), auto (the dtype the checkpoint was saved in)")
    chat_template: str | None = Field(None, description="Jinja chat-template file that replaces or adds the tokenizer's template; a model without a template needs one (e.g. configs/scale/chatml.jinja)")
    use_vllm: Literal["auto"] | bool = Field("auto", description="generate GRPO rollouts with vLLM inside TRL: auto = only when a CUDA GPU and the vllm package are present; true fails without them; false = transformers' generate")
    vllm_mode: Literal["colocate", "server"] = Field("colocate", description="TRL's vLLM mode: colocate = vLLM shares the training GPUs in-process; server = a separate `trl vllm-serve` on other GPUs")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, lt=1, description="share of each GPU's memory vLLM may take in colocate mode (the rest holds weights, gradients and optimizer state)")
    vllm_server_base_url: str | None = Field(None, description="URL of `trl vllm-serve` in server mode, e.g. http://10.0.0.5:8000 (None = TRL's default, localhost:8000)")
    vllm_max_model_length: int | None = Field(None, ge=1, description="vLLM's context window in tokens (colocate mode): at least the longest prompt plus train.max_completion_length; None = the model config's, which for Llama-3.1-8B reserves a 131k-token KV cache")
    vllm_tensor_parallel_size: int = Field(1, ge=1, description="GPUs each colocated vLLM engine is split over (colocate mode; for server mode pass it to `trl vllm-serve`)")
    vllm_enable_sleep_mode: bool = Field(False, description="offload vLLM's weights and KV cache during the optimizer step (colocate mode): frees GPU memory at the cost of a transfer per step")
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass (transformers' activation checkpointing): needed to fit 1-8 B models, a net loss for tiny ones")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the policy runs for generation, evaluation and fine-tuning: auto = a CUDA GPU when one is present, else the CPU; cuda fails without a GPU")

    @model_validator(mode="after")
    def _colocate_only(self) -> PolicyConfig:
        # TRL reads these only in colocate mode; in server mode they belong to `trl vllm-serve`
        if self.vllm_mode == "server":
            set_here = [k for k, default in (("vllm_max_model_length", None), ("vllm_tensor_parallel_size", 1),
                                             ("vllm_enable_sleep_mode", False)) if getattr(self, k) != default]
            if set_here:
                raise ValueError(f"{', '.join(set_here)} apply in vllm_mode colocate only; in server mode pass them "
                                 "to `trl vllm-serve` (--max_model_len, --tensor_parallel_size), or use colocate")
        return self


class LoraOptions(_Section):
    enabled: bool = Field(False, description="train a PEFT LoRA adapter instead of all weights (merged into the saved model)")
    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="module names that get adapters (Llama names; [all-linear] = every linear layer but the output head, for any architecture)")
