"""The sources of a given policy's scenarios (`scenarios.files`, `scenarios.capability`,
`scenarios.llm`): their specs, and each one read into `Scenario` rows with the hash of its bytes.

- a file: `PATH[@sha256=HEX]`, scenario JSONL (any rows: trait or capability), whose rows may mark
  their split (`scenarios.file_splits`);
- a capability import: `FORMAT:PATH[@sha256=HEX]` (formats of `traitrl.scenarios.importers`),
  rows graded by the numeric verifier;
- the LLM generator over the trait x domain x pressure grid, asked through the `judge:` endpoint.

A pinned sha256 is checked before anything is parsed; every problem is a `UserError` naming the
config key, the file and the line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from traitrl.errors import UserError
from traitrl.inputs import read_input

if TYPE_CHECKING:
    from traitrl.config import Config
    from traitrl.graders.llm_client import ChatClient
    from traitrl.scenarios.record import Scenario

_OPTION = re.compile(r"@(\w+)=([^@]*)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
Kind = Literal["file", "capability", "llm"]


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source entry: `FORMAT:PATH[@sha256=HEX]` (capability) or `PATH[@sha256=HEX]` (file)."""

    kind: Kind
    spec: str
    path: Path
    format: str | None = None
    sha256: str | None = None

    @classmethod
    def parse(cls, spec: str, kind: Kind) -> SourceSpec:
        rest, sha = spec, None
        if m := _OPTION.search(rest):
            key, value = m.groups()
            if key != "sha256":
                raise UserError(f"{spec!r}: unknown option {key!r}; allowed: sha256")
            sha, rest = value.lower(), rest[: m.start()]
            if not _HEX64.match(sha):
                raise UserError(f"{spec!r}: sha256 must be 64 hexadecimal characters")
        fmt = None
        if kind == "capability":
            from traitrl.scenarios.importers import FORMATS

            fmt, sep, rest = rest.partition(":")
            if not sep or not fmt:
                raise UserError(f"{spec!r}: expected FORMAT:PATH[@sha256=HEX], e.g. gsm8k:data/gsm8k.jsonl")
            if fmt not in FORMATS:
                raise UserError(f"{spec!r}: unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
        if not rest:
            raise UserError(f"{spec!r}: no PATH")
        return cls(kind=kind, spec=spec, path=Path(rest), format=fmt, sha256=sha)

    @property
    def name(self) -> str:
        """How the source is named in the manifest and in messages."""
        return f"{self.format}:{self.path}" if self.format else str(self.path)


@dataclass
class SourceRows:
    """One source's rows (split as read: marked, or train for the hash split), and where they came from."""

    name: str
    kind: Kind
    sha256: str | None  # None for the generator: its key is the request cache
    rows: list[Scenario]
    marked_splits: bool  # the rows keep the split they mark; otherwise the hash of each id decides
    details: dict[str, Any] = field(default_factory=dict)


def specs(cfg: Config) -> list[SourceSpec]:
    """Every file and capability source of the config, in precedence order (files first)."""
    sc = cfg.scenarios
    return ([SourceSpec.parse(s, "file") for s in sc.files]
            + [SourceSpec.parse(s, "capability") for s in sc.capability])


def llm_enabled(cfg: Config) -> bool:
    return cfg.scenarios.llm is not None and cfg.scenarios.llm.enabled


def has_sources(cfg: Config) -> bool:
    """Whether the config names scenario sources (files, capability imports, LLM generation)."""
    return bool(cfg.scenarios.files or cfg.scenarios.capability or llm_enabled(cfg))


def _read_bytes(spec: SourceSpec, key: str) -> tuple[bytes, str]:
    shown = f"{key}: {spec.path}"
    data = read_input(spec.path, shown, "a JSONL file of scenario rows")
    digest = hashlib.sha256(data).hexdigest()
    if spec.sha256 is not None and digest != spec.sha256:
        raise UserError(f"{shown}: sha256 is {digest}, but {spec.sha256} was pinned; the file changed since it "
                        "was pinned (re-pin it only if the change is intended)")
    return data, digest


def fingerprints(cfg: Config) -> dict[str, str]:
    """spec -> sha256 of every file and capability source, checking pins (cheap: no parsing)."""
    return {s.spec: _read_bytes(s, f"scenarios.{'files' if s.kind == 'file' else 'capability'}")[1]
            for s in specs(cfg)}


def read_file_source(spec: SourceSpec, file_splits: str) -> SourceRows:
    """A scenario JSONL file; with file_splits auto its marks are kept when any row is a dev row."""
    from traitrl.inputs import decode_utf8
    from traitrl.scenarios.io import parse_scenarios

    data, digest = _read_bytes(spec, "scenarios.files")
    rows = parse_scenarios(decode_utf8(data, str(spec.path)), str(spec.path))
    for r in rows:
        if r.split not in ("train", "dev"):
            raise UserError(f"scenarios.files: {spec.path}: row {r.id!r} is a {r.split} row; the RL data takes "
                            "train and dev rows only")
    marked = file_splits == "marked" or (file_splits == "auto" and any(r.split == "dev" for r in rows))
    return SourceRows(spec.name, "file", digest, rows, marked)


def read_capability_source(spec: SourceSpec, instruction: str) -> SourceRows:
    """A GSM8K- or MATH-style file through the importer (its pin checked there, on the same bytes)."""
    from traitrl.scenarios.importers import import_rows

    assert spec.format is not None
    imported = import_rows(spec.format, spec.path, sha256=spec.sha256, instruction=instruction)
    return SourceRows(spec.name, "capability", imported.sha256, imported.rows, False)


def generator_settings(cfg: Config) -> dict[str, Any] | None:
    """What decides the generator's replies (the judge endpoint's model, temperature and seed),
    or None when generation is off: part of the assembly stage's key."""
    if not llm_enabled(cfg) or cfg.judge is None:
        return None
    settings = {k: v for k, v in cfg.judge.settings().items() if k != "max_tokens"}
    llm = cfg.scenarios.llm
    assert llm is not None
    if llm.temperature is not None:
        settings["temperature"] = llm.temperature
    return settings | {"max_tokens": llm.max_tokens}


def generate_source(cfg: Config, client: ChatClient | None = None) -> SourceRows:
    """LLM-generated trait scenarios over the grid of scenarios.traits x domains x pressures."""
    from traitrl.scenarios.llm_generator import generate_llm_rows

    sc, llm = cfg.scenarios, cfg.scenarios.llm
    if llm is None or cfg.judge is None:
        raise UserError("scenarios.llm: generation needs a `judge:` section (base_url, model, api_key_env)")
    rows, report = generate_llm_rows(
        cfg.judge, traits=tuple(sc.traits), domains=tuple(sc.domains),
        pressures=tuple(p for p in sc.pressures if p != "none") or ("none",), per_cell=llm.per_cell,
        limit=llm.limit, seed=sc.seed, max_turns=llm.max_turns, max_tokens=llm.max_tokens,
        temperature=llm.temperature, dedup_threshold=llm.dedup_threshold, client=client, show_progress=True)
    if not rows:
        raise UserError(f"scenarios.llm: the generator returned no valid scenario ({report.requested} asked, "
                        f"{report.rejected} rejected, {report.failed} failed): {report.reasons[:3]}")
    details = {k: v for k, v in report.to_dict().items() if k not in ("path", "reasons")}
    return SourceRows("llm", "llm", None, rows, False, details | {"settings": generator_settings(cfg)})
