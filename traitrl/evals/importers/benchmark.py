"""`load_benchmark("FORMAT:PATH[@sha256=HEX][@higher_is_better=BOOL]")` -> a validated `Benchmark`.

The file is read once; the same bytes are hashed and parsed, so the recorded sha256 is the hash of
exactly what was evaluated. A pinned hash is checked before parsing. Loading returns every item or
raises `UserError` naming the file and line: never a partial benchmark.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from traitrl.errors import UserError
from traitrl.evals.importers import freeform, healthbench, mwe  # noqa: F401  (registers the formats)
from traitrl.evals.importers.base import Source, formats, get_format
from traitrl.inputs import read_input

BENCHMARK_SCHEMA_VERSION = 1

# One item type per registered format, told apart by its `format` field.
BenchmarkItem = Annotated[Union[tuple(f.item_type for f in formats())], Field(discriminator="format")]  # noqa: UP007

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_OPTION = re.compile(r"@([A-Za-z_]\w*)=([^@/\\]*)$")
_OPTIONS = ("sha256", "higher_is_better")
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class Benchmark(BaseModel):
    """A public benchmark file, loaded: where it came from, its hash, and its items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = BENCHMARK_SCHEMA_VERSION
    format: str
    path: str = Field(description="the path as the user gave it")
    name: str = Field(description="the file stem; prefixes item ids")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    n_items: int = Field(ge=1)
    metric: str
    higher_is_better: bool
    items: tuple[BenchmarkItem, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Benchmark:
        if self.n_items != len(self.items):
            raise ValueError(f"n_items is {self.n_items} but there are {len(self.items)} items")
        if len({item.id for item in self.items}) != len(self.items):
            raise ValueError("item ids must be unique")
        return self

    def summary(self) -> dict[str, Any]:
        """Everything but the items: what an eval result records about its source."""
        return self.model_dump(mode="json", exclude={"items"})


@dataclass(frozen=True)
class BenchmarkSpec:
    """A parsed `FORMAT:PATH` with its optional pins; configs may build one directly."""

    format: str
    path: Path
    sha256: str | None = None
    higher_is_better: bool | None = None

    @classmethod
    def parse(cls, spec: str) -> BenchmarkSpec:
        fmt, sep, rest = spec.partition(":")
        if not sep or not fmt or not rest:
            raise UserError(
                f"benchmark {spec!r}: expected FORMAT:PATH, e.g. anthropic-mwe:file.jsonl"
            )
        get_format(fmt)  # unknown names fail here, before the file is touched
        options: dict[str, str] = {}
        while m := _OPTION.search(rest):
            key, value = m.groups()
            if key not in _OPTIONS:
                raise UserError(
                    f"benchmark {spec!r}: unknown option {key!r}; allowed: {', '.join(_OPTIONS)}"
                )
            options.setdefault(key, value)  # rightmost wins
            rest = rest[: m.start()]
        if not rest:
            raise UserError(f"benchmark {spec!r}: no PATH before the options")
        sha = options.get("sha256")
        if sha is not None:
            sha = sha.lower()
            if not _HEX64.match(sha):
                raise UserError(f"benchmark {spec!r}: sha256 must be 64 hexadecimal characters")
        hib = options.get("higher_is_better")
        if hib is not None:
            if hib.lower() not in _BOOLS:
                raise UserError(f"benchmark {spec!r}: higher_is_better must be true or false")
            hib = _BOOLS[hib.lower()]
        return cls(format=fmt, path=Path(rest), sha256=sha, higher_is_better=hib)


def load_benchmark(spec: str | BenchmarkSpec, *, base_dir: Path | None = None) -> Benchmark:
    """Read, hash, check and parse one benchmark file. Relative paths resolve against
    `base_dir` (e.g. the config's folder) when given, else the working directory."""
    if isinstance(spec, str):
        spec = BenchmarkSpec.parse(spec)
    fmt = get_format(spec.format)
    shown = str(spec.path)
    path = spec.path if base_dir is None or spec.path.is_absolute() else base_dir / spec.path
    data = _read(path, shown, fmt.name)
    digest = hashlib.sha256(data).hexdigest()
    if spec.sha256 is not None and digest != spec.sha256:
        raise UserError(
            f"{shown}: sha256 is {digest}, but {spec.sha256} was pinned; the file changed "
            "since it was pinned (re-pin it only if the change is intended)"
        )
    text = _decode(data, shown)
    if not text.strip():
        raise UserError(f"{shown}:1: file: the file is empty (expected {fmt.description})")
    try:
        items = fmt.parse(Source(path=shown, name=path.stem, text=text))
    except RecursionError:  # a parser (YAML's composer) meets thousands of levels of brackets
        raise UserError(f"{shown}: nested too deeply to read") from None
    if not items:
        raise UserError(f"{shown}:1: file: no items found (expected {fmt.description})")
    hib = spec.higher_is_better
    return Benchmark(
        format=fmt.name,
        path=shown,
        name=path.stem,
        sha256=digest,
        n_items=len(items),
        metric=fmt.metric,
        higher_is_better=fmt.higher_is_better_for(path.stem) if hib is None else hib,
        items=tuple(items),
    )


def _read(path: Path, shown: str, fmt: str) -> bytes:
    return read_input(path, shown, f"a file in {fmt} format")


def _decode(data: bytes, shown: str) -> str:
    try:
        return data.decode("utf-8-sig")  # tolerate a byte-order mark from Windows editors
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{shown}:{line}: encoding: not valid UTF-8 ({e.reason})") from None
