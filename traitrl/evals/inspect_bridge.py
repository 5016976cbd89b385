"""inspect_ai tasks as traitrl benchmarks: `inspect:TASK_FILE.py[@TASK]` or `inspect:MODULE:TASK`.

inspect runs the task (its dataset, solvers and scorers) against the policy: the model folder as
an inspect `hf/` model generating on `policy.device`, or a served copy of it (`evals.inspect.model`,
e.g. `openai-api/vllm/NAME` with `base_url`). Its log is then read sample by sample into a
`BenchmarkResult`, one `ItemRecord` per sample keyed by the sample id, so `compare` and the
scoreboard pair two models' runs item by item like any benchmark file.

Scores follow inspect's own `value_to_float` (C / I / P / N -> 1 / 0 / 0.5 / 0, yes/no, numbers);
what it cannot read as a number (a dict-valued score, free text, NaN) and every sample that
errored are *unscored* with the reason, never a zero. The `.eval` log stays beside the results
file; each item's grade names it.

inspect_ai is an optional dependency (`pip install traitrl[inspect]`), imported only here, inside
the functions.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitrl.config import Config, SamplingConfig
from traitrl.errors import UserError
from traitrl.evals.results import BenchmarkResult, ItemRecord

PREFIX = "inspect"
FORMAT = "inspect"
_OPTION = re.compile(r"@(sha256|higher_is_better|scorer)=([^@/\\]*)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_MODULE_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class InspectTask:
    """A checked `inspect:` spec: which task, where its code is, and its pins."""

    spec: str
    shown: str  # the file or module as the user wrote it
    source: Path  # the .py file that defines the task (hashed)
    name: str  # the task's name, as the eval id
    module: str | None = None  # set for MODULE:TASK specs (imported, not loaded by path)
    sha256: str = ""
    higher_is_better: bool = True
    scorer: str | None = None  # which of the task's scorers (None = its first)

    @property
    def eval_id(self) -> str:
        return f"{PREFIX}:{self.name}"


@dataclass(frozen=True)
class InspectTarget:
    """The inspect model that answers: a name, its constructor arguments, an optional base URL."""

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None


def _require_inspect():
    try:
        import inspect_ai
    except ImportError:
        raise UserError("inspect: benchmarks need inspect_ai: pip install 'traitrl[inspect]' "
                        "(or pip install inspect_ai)") from None
    return inspect_ai


def _options(rest: str) -> tuple[str, dict[str, str]]:
    options: dict[str, str] = {}
    while m := _OPTION.search(rest):
        options.setdefault(m.group(1), m.group(2))  # rightmost wins
        rest = rest[: m.start()]
    return rest, options


@dataclass(frozen=True)
class InspectSpec:
    """An `inspect:` spec's syntax, read without touching a file or importing inspect_ai."""

    ref: str  # FILE.py[@TASK] or MODULE:TASK, as written
    module: bool  # MODULE:TASK (imported) rather than a task file
    sha256: str | None = None
    higher_is_better: bool | None = None
    scorer: str | None = None


def parse_inspect_spec(spec: str) -> InspectSpec:
    """The parts of an `inspect:` spec, or a UserError saying what is malformed (a config loads
    with this check; the task file is looked at when a run starts, `load_inspect_task`)."""
    prefix, _, rest = spec.partition(":")
    if prefix != PREFIX or not rest:
        raise UserError(f"benchmark {spec!r}: expected inspect:TASK_FILE.py[@TASK] or inspect:MODULE:TASK")
    rest, opts = _options(rest)
    sha = opts.get("sha256", "").lower() or None
    if sha is not None and not _HEX64.match(sha):
        raise UserError(f"benchmark {spec!r}: sha256 must be 64 hexadecimal characters")
    hib = opts.get("higher_is_better")
    if hib is not None and hib.lower() not in _BOOLS:
        raise UserError(f"benchmark {spec!r}: higher_is_better must be true or false")
    module = bool(_MODULE_REF.match(rest)) and not rest.endswith(".py")
    if not module and not (rest.endswith(".py") or ".py@" in rest):
        raise UserError(f"benchmark {spec!r}: expected a .py task file (inspect:FILE.py@TASK) or MODULE:TASK")
    return InspectSpec(ref=rest, module=module, sha256=sha,
                       higher_is_better=None if hib is None else _BOOLS[hib.lower()], scorer=opts.get("scorer"))


def pinned_spec(task: InspectTask) -> str:
    """The spec that names exactly the task code loaded: its options and `@sha256=` of the task
    file (a stage input, so an edited task file changes every key that depends on it)."""
    ref = f"{task.module}:{task.name}" if task.module is not None else f"{task.shown}@{task.name}"
    opts = "" if task.higher_is_better else "@higher_is_better=false"
    opts += f"@scorer={task.scorer}" if task.scorer is not None else ""
    return f"{PREFIX}:{ref}{opts}@sha256={task.sha256}"


def load_inspect_task(spec: str, *, base_dir: Path | None = None) -> InspectTask:
    """Check an `inspect:` spec before any model work: the task file (or module) exists, defines
    the task, and matches a pinned sha256. Relative paths resolve against `base_dir` if given
    (else the working directory, as benchmark files do)."""
    parsed = parse_inspect_spec(spec)
    rest, sha = parsed.ref, parsed.sha256
    inspect_ai = _require_inspect()
    if parsed.module:
        module, _, name = rest.partition(":")
        source = _module_file(spec, module)
        shown = rest
        _module_task(shown, module, name)  # imported now, so a missing task fails before model work
    else:
        file, _, name = rest.partition(".py@") if ".py@" in rest else (rest, "", "")
        file = file + ".py" if name else file
        shown = file
        source = Path(file) if base_dir is None or Path(file).is_absolute() else base_dir / file
        if not source.is_file():
            raise UserError(f"{shown}: inspect task file not found")
        module = None
        tasks = [t.name for t in inspect_ai.list_tasks(source.name, root_dir=source.resolve().parent)]
        if not tasks:
            raise UserError(f"{shown}: defines no @task function")
        if not name:
            if len(tasks) > 1:
                raise UserError(f"{shown}: defines {len(tasks)} tasks ({', '.join(tasks)}); name one: {shown}@TASK")
            name = tasks[0]
        elif name not in tasks:
            raise UserError(f"{shown}: no task {name!r}; it defines {', '.join(tasks)}")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if sha is not None and digest != sha:
        raise UserError(f"{shown}: sha256 is {digest}, but {sha} was pinned; the task file changed since it was pinned")
    return InspectTask(spec=spec, shown=shown, source=source, name=name, module=module, sha256=digest,
                       higher_is_better=True if parsed.higher_is_better is None else parsed.higher_is_better,
                       scorer=parsed.scorer)


def _module_file(spec: str, module: str) -> Path:
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise UserError(f"benchmark {spec!r}: no Python module {module!r} on the path")
    return Path(found.origin)


# -- who answers ------------------------------------------------------------------------------


def policy_target(model_dir: str | Path, config: Config) -> InspectTarget:
    """The model inspect runs for `model_dir` under `config`: the folder as an `hf/` model with the
    policy's device, dtype and chat template; with `evals.inspect.model: vllm`, the folder served by
    inspect's vLLM provider; with any other `evals.inspect.model`, that (served) model."""
    from traitrl.models.loader import check_model_dir, resolve_device

    opts = config.evals.inspect
    policy, sampling = config.policy, config.evals.sampling
    if opts.model == "vllm":  # inspect starts `vllm serve` on the folder (and stops it after)
        path = check_model_dir(model_dir).resolve()
        server: dict[str, Any] = {"dtype": policy.dtype, "tensor_parallel_size": policy.vllm_tensor_parallel_size}
        if policy.vllm_max_model_length is not None:
            server["max_model_len"] = policy.vllm_max_model_length
        if policy.chat_template is not None:
            server["chat_template"] = str(Path(policy.chat_template).resolve())
        return InspectTarget(model=f"vllm/{path}", model_args=server)
    if opts.model is not None:
        return InspectTarget(model=opts.model, base_url=opts.base_url)
    path = check_model_dir(model_dir).resolve()
    args: dict[str, Any] = {
        "model_path": str(path),
        "device": str(resolve_device(policy.device)),
        "do_sample": sampling.temperature > 0,
        "trust_remote_code": False,
    }
    if policy.dtype != "float32":
        args["dtype"] = policy.dtype  # from_pretrained takes the name; float32 is its default
    if policy.chat_template is not None:
        args["chat_template"] = Path(policy.chat_template).read_text(encoding="utf-8")
    # the folder's name as the model name: inspect picks tool-call formats by family (qwen, mistral)
    return InspectTarget(model=f"hf/{_UNSAFE.sub('-', path.name) or 'policy'}", model_args=args)


def generate_config(sampling: SamplingConfig, hf: bool, system_message: str | None = None):
    """evals.sampling as inspect's GenerateConfig. Greedy (temperature 0) is `do_sample=False` for
    `hf/` (set in its model args) and temperature 0 for an API."""
    from inspect_ai.model import GenerateConfig

    greedy = sampling.temperature == 0
    return GenerateConfig(
        max_tokens=sampling.max_new_tokens,
        temperature=None if greedy and hf else sampling.temperature,
        top_p=None if greedy else sampling.top_p,
        seed=sampling.seed,
        max_connections=sampling.batch_size,  # the hf provider batches this many concurrent requests
        system_message=system_message,
    )


# -- running and reading ----------------------------------------------------------------------


def run_inspect(task: InspectTask, target: InspectTarget, sampling: SamplingConfig, log_dir: str | Path, *,
                seed: int = 0, system_message: str | None = None, limit: int | None = None) -> BenchmarkResult:
    """Run `task` against `target` with inspect, write its log under `log_dir`, and read it back."""
    _require_inspect()
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import ModelInfo, get_model, set_model_info

    hf = target.model.startswith("hf/")
    # inspect looks up model info by name for usage events; without an entry it builds a second
    # provider from the bare name, which for hf/ means a Hub lookup (or a second copy of the weights)
    set_model_info(target.model, ModelInfo(organization="traitrl", model=target.model))
    model = get_model(target.model, config=generate_config(sampling, hf, system_message), base_url=target.base_url,
                      memoize=False, **target.model_args)
    try:
        logs = inspect_eval(_task_ref(task), model=model, log_dir=str(log_dir), display="none", log_level="warning",
                            fail_on_error=False, score_display=False, limit=limit)
    finally:
        _release(model)
    log = logs[0]
    if log.status != "success":
        why = log.error.message if log.error else log.status
        raise UserError(f"{task.shown}: inspect task {task.name} did not finish ({why}); see {log.location}")
    return read_inspect_log(log.location, task, seed=seed)


def _release(model) -> None:
    """Free what the provider holds now: hf's weights, the `vllm serve` process inspect started.
    API clients can only close asynchronously (inspect raises RuntimeError); they hold no GPU."""
    try:
        model.api.close()
    except RuntimeError:
        pass


def run_for_model(task: InspectTask, model_dir: Path, config: Config, log_dir: Path,
                  system_message: str | None = None, limit: int | None = None) -> BenchmarkResult:
    """`task` on a model folder under `config` (who answers: `policy_target`), sampled as
    `evals.sampling` says; `limit` = its first samples only (None = all)."""
    sampling = config.evals.sampling
    return run_inspect(task, policy_target(model_dir, config), sampling, log_dir, seed=sampling.seed,
                       system_message=system_message, limit=limit)


def _task_ref(task: InspectTask):
    if task.module is None:
        return f"{task.source.resolve()}@{task.name}"
    return _module_task(task.shown, task.module, task.name)


def _module_task(shown: str, module: str, name: str):
    fn = getattr(importlib.import_module(module), name, None)
    if not callable(fn):
        raise UserError(f"{shown}: module {module} has no task function {name!r}")
    return fn


def score_value(value: Any) -> tuple[float | None, str | None]:
    """A score value as a number the way inspect's `value_to_float` reads it, or (None, reason)
    where it would fall back to 0 with a warning: unscored is never folded into zero."""
    from inspect_ai.scorer import value_to_float

    if isinstance(value, dict | list):
        return None, f"the score is a {type(value).__name__} ({value!r}), not one number; choose a scorer with @scorer=NAME"
    if isinstance(value, str) and value not in ("C", "I", "P", "N") and value.lower() not in (
            "yes", "no", "true", "false") and not _is_number(value):
        return None, f"score value {value!r} is not a number, C/I/P/N or yes/no"
    number = value_to_float()(value)
    if not math.isfinite(number):
        return None, f"score value {value!r} is not finite"
    return number, None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def read_inspect_log(location: str | Path, task: InspectTask, *, seed: int = 0) -> BenchmarkResult:
    """The per-sample records of an inspect log as one `BenchmarkResult`. Item ids are the sample
    ids (with `#epoch` when the task ran several epochs); the score is the chosen scorer's."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(location))
    samples = log.samples or []
    if not samples:
        raise UserError(f"{location}: the inspect log holds no samples")
    # the task's scorers in its order (the log's results omit them when a sample errored)
    scorers = [s.name for s in log.eval.scorers or []] or [s.name for s in (log.results.scores if log.results else [])]
    scorer = task.scorer or (scorers[0] if scorers else None)
    if task.scorer is not None and scorers and task.scorer not in scorers:
        raise UserError(f"{task.shown}: task {task.name} has no scorer {task.scorer!r}; it has {', '.join(scorers)}")
    epochs = max(s.epoch for s in samples) > 1
    system = log.eval.model_generate_config.system_message  # a persona condition's prompt, sent first
    items = [_item(s, scorer, epochs, str(location), system) for s in samples]
    return BenchmarkResult.from_items(
        items=items, seed=seed, id=task.eval_id, family="benchmark", domains=[], format=FORMAT,
        metric=scorer or "score", higher_is_better=task.higher_is_better, sha256=task.sha256, path=task.shown,
    )


def _item(sample, scorer: str | None, epochs: bool, location: str, system: str | None) -> ItemRecord:
    grade: dict[str, Any] = {"scorer": scorer, "sample_id": sample.id, "epoch": sample.epoch, "log": location,
                             "target": sample.target}
    score = (sample.scores or {}).get(scorer) if scorer else None
    if sample.error is not None:
        value, reason = None, f"the sample errored: {sample.error.message}"
    elif score is None:
        value, reason = None, f"no {scorer or 'score'} score in the log"
    else:
        value, reason = score_value(score.value)
        grade.update(raw=score.value, answer=score.answer, explanation=score.explanation)
        if score.metadata:
            grade["metadata"] = score.metadata
    grade["value"] = value
    if reason is not None:
        grade["reason"] = reason
    item_id = f"{sample.id}#{sample.epoch}" if epochs else str(sample.id)
    prompt = ([{"role": "system", "content": system}] if system else []) + _prompt(sample)
    return ItemRecord(item_id=item_id, prompt=prompt, response=sample.output.completion if sample.output else "",
                      score=value, grade=grade)


def _prompt(sample) -> list[dict[str, str]]:
    if isinstance(sample.input, str):
        return [{"role": "user", "content": sample.input}]
    return [{"role": m.role, "content": m.text} for m in sample.input]
