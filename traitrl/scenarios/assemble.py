"""Assemble a given policy's scenarios from its sources into one folder: train.jsonl, dev.jsonl and
manifest.json, written together (all three appear, or none).

sources (files, then capability imports, then the LLM generator) -> one row per normalised prompt
(the first listed source wins; every dropped row is named in the manifest with the row it lost to)
-> the dev split (marked by a file's rows, else a hash of each row's id against dev_fraction) ->
the three files. `traitrl scenarios assemble` and the assembly stage of `traitrl run` call this.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.atomic import atomic_group
from traitrl.errors import UserError
from traitrl.scenarios.record import Scenario
from traitrl.scenarios.sources import (
    SourceRows,
    generate_source,
    llm_enabled,
    read_capability_source,
    read_file_source,
    specs,
)

if TYPE_CHECKING:
    from traitrl.config import Config
    from traitrl.graders.llm_client import ChatClient

MANIFEST_SCHEMA_VERSION = 1
OUTPUTS = ("train.jsonl", "dev.jsonl", "manifest.json")


class SourceSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="the source as listed (PATH, FORMAT:PATH, or llm)")
    kind: str = Field(description="file, capability or llm")
    sha256: str | None = Field(description="hash of the file's bytes (None for the generator)")
    split: str = Field(description="marked (rows keep their split) or hash (dev_fraction)")
    rows: int = Field(description="rows the source gave")
    kept: int = Field(description="rows kept after de-duplication")
    train: int
    dev: int
    generation: dict[str, Any] | None = Field(None, description="the generator's report: requests, rejects, usage")


class Duplicate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    source: str
    kept_id: str = Field(description="the row with the same normalised prompt that was kept")
    kept_source: str


class Manifest(BaseModel):
    """What an assembled folder was made from (`manifest.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int = MANIFEST_SCHEMA_VERSION
    dev_fraction: float
    counts: dict[str, int] = Field(description="rows per split")
    sources: list[SourceSummary]
    duplicates: list[Duplicate] = Field(description="rows dropped because an earlier source had the same prompt")


def normalised_prompt(s: Scenario) -> str:
    """The prompt as de-duplication sees it: roles and contents, case and whitespace folded."""
    return json.dumps([(m.role, " ".join(m.content.lower().split())) for m in s.messages])


def hash_split(row_id: str, dev_fraction: float) -> str:
    """dev for a row whose id hashes below dev_fraction of the range, else train (no seed: a row's
    split depends only on its id, so adding a source never moves another source's rows)."""
    h = int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest()[:8], "big")
    return "dev" if h / 2**64 < dev_fraction else "train"


def read_sources(cfg: Config, client: ChatClient | None = None) -> list[SourceRows]:
    """Every configured source, in precedence order; a file or import problem fails before the
    generator is asked anything."""
    sc = cfg.scenarios
    out = [read_file_source(s, sc.file_splits) if s.kind == "file" else read_capability_source(s, sc.capability_instruction)
           for s in specs(cfg)]
    if llm_enabled(cfg):
        out.append(generate_source(cfg, client))
    return out


def combine(sources: list[SourceRows], dev_fraction: float) -> tuple[dict[str, list[Scenario]], Manifest]:
    """De-duplicate across sources (first wins), split, and summarise. Two different rows with one
    id are refused: the id is what the split, the caches and the results pair rows by."""
    splits: dict[str, list[Scenario]] = {"train": [], "dev": []}
    by_prompt: dict[str, tuple[str, str]] = {}
    by_id: dict[str, tuple[str, str]] = {}
    duplicates: list[Duplicate] = []
    summaries = []
    for src in sources:
        kept: Counter[str] = Counter()
        for row in src.rows:
            prompt = normalised_prompt(row)
            if prompt in by_prompt:
                kept_id, kept_source = by_prompt[prompt]
                duplicates.append(Duplicate(id=row.id, source=src.name, kept_id=kept_id, kept_source=kept_source))
                continue
            if row.id in by_id:
                raise UserError(f"{src.name}: row id {row.id!r} is also a different row of {by_id[row.id][1]}; "
                                "ids must be unique across scenario sources (rename one)")
            by_prompt[prompt] = by_id[row.id] = (row.id, src.name)
            split = row.split if src.marked_splits else hash_split(row.id, dev_fraction)
            splits[split].append(row if row.split == split else row.model_copy(update={"split": split}))
            kept[split] += 1
        summaries.append(SourceSummary(
            name=src.name, kind=src.kind, sha256=src.sha256, split="marked" if src.marked_splits else "hash",
            rows=len(src.rows), kept=kept.total(), train=kept["train"], dev=kept["dev"],
            generation=src.details or None))
    for split, rows in splits.items():
        if not rows:
            raise UserError(f"the assembled {split} split is empty: {', '.join(s.name for s in sources)} gave "
                            f"{sum(len(s.rows) for s in sources)} rows; add rows, mark {split} rows in a file, or "
                            "change scenarios.dev_fraction")
    manifest = Manifest(dev_fraction=dev_fraction, counts={k: len(v) for k, v in splits.items()},
                        sources=summaries, duplicates=duplicates)
    return splits, manifest


def write_assembly(out: Path, splits: dict[str, list[Scenario]], manifest: Manifest) -> None:
    """train.jsonl, dev.jsonl and manifest.json, renamed into place together."""
    out = Path(out)
    with atomic_group([out / name for name in OUTPUTS]) as (train, dev, man):
        for f, split in ((train, "train"), (dev, "dev")):
            for s in splits[split]:
                f.write(json.dumps(s.to_row(), ensure_ascii=False, separators=(",", ":")) + "\n")
        man.write(manifest.model_dump_json(indent=2) + "\n")


def assemble(cfg: Config, out: str | Path, *, expected: dict[str, str] | None = None,
             client: ChatClient | None = None) -> tuple[dict[str, list[Scenario]], Manifest]:
    """Read every source of `cfg.scenarios`, combine them and write `out`. `expected` (spec ->
    sha256, the stage's key) refuses a source that changed after the key was made."""
    sources = read_sources(cfg, client)
    if expected is not None:
        got = {s.spec: src.sha256 for s, src in zip(specs(cfg), sources, strict=False)}
        changed = [spec for spec, sha in expected.items() if got.get(spec) != sha]
        if changed:
            raise UserError(f"{', '.join(changed)}: changed while the run was starting; rerun the command")
    splits, manifest = combine(sources, cfg.scenarios.dev_fraction)
    write_assembly(Path(out), splits, manifest)
    return splits, manifest


def check_assembly_folder(out: str | Path) -> Path:
    """Before any work: `out` is absent, empty, or an earlier assembly (only its own three files)."""
    from traitrl.atomic import check_output_folder

    out = check_output_folder(out)
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        others = sorted(n for n in names if n not in OUTPUTS)
        if others:
            raise UserError(f"{out}: holds {', '.join(others)}, which an assembly does not write; refusing to "
                            "write into it, choose another --out")
        if names and "manifest.json" not in names:
            raise UserError(f"{out}: holds {', '.join(sorted(names))} but no manifest.json, so no assembly wrote "
                            "them; refusing to overwrite them, choose another --out")
    return out


def read_manifest(folder: str | Path) -> Manifest:
    return Manifest.model_validate_json(Path(folder, "manifest.json").read_text(encoding="utf-8"))


def counts_by_kind(splits: dict[str, list[Scenario]]) -> dict[str, Counter]:
    """trait / task kind -> rows per split, for the command's table."""
    out: dict[str, Counter] = {}
    for split, rows in splits.items():
        for s in rows:
            out.setdefault(s.trait, Counter())[split] += 1
    return out
