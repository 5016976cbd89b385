"""The refusals section: how often each model refuses, and each comparison on the items that
neither model refused (the paper's check that trait RL does not win by refusing)."""

from __future__ import annotations

from traitrl.report.html import esc, missing, num, section, table
from traitrl.report.schema import RunResults


def refusals_section(res: RunResults) -> str:
    intro = ("A model can look aligned by refusing more. The paper found refusals rose under trait RL "
             "(13.2 % → 23.9 %) yet, on items neither model refused, the trait model still led on 19 of "
             "20 evals. Here a refusal is an answer that makes one of the moves listed below; an item "
             "that any seed of either arm refused leaves both arms of that comparison.")
    r = res.refusals
    if r is None:
        return section("refusals", "Refusals", missing("the refusal analysis (not computed in this run)"), intro)
    rates = table(["model", "refused", "parsed", "refusal rate"],
                  [[esc(m), str(v["all"].refused), str(v["all"].parsed), num(v["all"].rate)]
                   for m, v in r.rates.items() if "all" in v], numeric=(1, 2, 3))
    rows = [[esc(key.replace("_vs_", " vs ").replace("_", " ")), f"<b>{sb.improved}</b> of {sb.n}", str(sb.regressed),
             f"{sb.holm.improved} / {sb.holm.regressed}", f"{sb.bh.improved} / {sb.bh.regressed}"]
            for key, sb in r.non_refused.items()]
    body = (f"<p>Refusal moves: {esc(', '.join(r.moves))}.</p>" + rates
            + "<h3>Items neither model refused</h3>"
            + table(["comparison", "improved", "regressed", "Holm ↑ / ↓", "BH ↑ / ↓"], rows, numeric=(1, 2, 3, 4)))
    return section("refusals", "Refusals", body, intro)
