"""Importers for public benchmark formats read from local files (DESIGN §4, §7.6).

`load_benchmark("FORMAT:PATH")` validates a file's schema, records its sha256 (and checks a pinned
one), and returns a `Benchmark` whose items share one typed record. Each format module also holds
the pure scoring functions for its items, so evaluation and any reward use one definition.
"""

from traitrl.evals.importers.base import (
    Format,
    ItemBase,
    Source,
    format_names,
    get_format,
    register_format,
)
from traitrl.evals.importers.benchmark import (
    Benchmark,
    BenchmarkItem,
    BenchmarkSpec,
    load_benchmark,
)
from traitrl.evals.importers.freeform import (
    FreeformItem,
    judge_score_from_logprobs,
    parse_judge_score,
    render_judge_prompt,
)
from traitrl.evals.importers.healthbench import HealthBenchItem, grade_healthbench
from traitrl.evals.importers.mwe import (
    MweItem,
    grade_mwe,
    option_label,
    parse_mwe_choice,
    score_mwe,
    score_mwe_logprobs,
)

__all__ = [
    "Benchmark",
    "BenchmarkItem",
    "BenchmarkSpec",
    "Format",
    "FreeformItem",
    "HealthBenchItem",
    "ItemBase",
    "MweItem",
    "Source",
    "format_names",
    "get_format",
    "grade_healthbench",
    "grade_mwe",
    "judge_score_from_logprobs",
    "load_benchmark",
    "option_label",
    "parse_judge_score",
    "parse_mwe_choice",
    "register_format",
    "render_judge_prompt",
    "score_mwe",
    "score_mwe_logprobs",
]
