"""The page around the sections: HTML helpers, the stylesheet, and the self-contained document.

Nothing here reaches outside the file: images are base64 data URIs, the CSS is inline, and
there is no script, so `report.html` can be mailed, archived or opened offline and looks the same.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from traitrl.atomic import write_text


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def num(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def ci(c: Sequence[float] | None, digits: int = 3, sign: bool = False) -> str:
    if c is None:
        return ""
    return f"[{num(c[0], digits, sign)}, {num(c[1], digits, sign)}]"


def duration(s: float | None) -> str:
    """Seconds as people read them: '47 s', '5 min 12 s', '1 h 03 min'."""
    if s is None:
        return "—"
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def pill(verdict: str | None) -> str:
    if verdict is None:
        return '<span class="pill muted">—</span>'
    return f'<span class="pill {esc(verdict)}">{esc(verdict.replace("_", " "))}</span>'


Cell = str | tuple[str, str]  # HTML, or (HTML, css class of the cell)


def _td(i: int, cell: Cell, numeric: Sequence[int]) -> str:
    text, cls = cell if isinstance(cell, tuple) else (cell, "")
    classes = " ".join(c for c in (cls, "num" if i in numeric else "") if c)
    return f'<td class="{classes}">{text}</td>' if classes else f"<td>{text}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]], numeric: Sequence[int] = ()) -> str:
    """A table from cells that are already HTML; columns in `numeric` are right-aligned."""
    ths = "".join(f'<th{" class=num" if i in numeric else ""}>{h}</th>' for i, h in enumerate(header))
    trs = "".join("<tr>" + "".join(_td(i, c, numeric) for i, c in enumerate(row)) + "</tr>"
                  for row in rows)
    return f'<div class="scroll"><table><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table></div>'


def kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column key/value table without a header row (facts, not data)."""
    trs = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in pairs)
    return f'<div class="scroll"><table class="kv"><tbody>{trs}</tbody></table></div>'


def figure(png: bytes | None, alt: str, caption: str = "") -> str:
    if png is None:
        return missing(alt)
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def missing(what: str) -> str:
    return f'<p class="missing">Not available in this run: {esc(what)}.</p>'


def section(sid: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{lead}{body}</section>'


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>{body}</details>"


CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#e3e6ea; --bg:#f4f5f7; --card:#fff;
  --green:#2e7d32; --red:#c62828; --grey:#8a8a8a; --blue:#1b6ca8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif; }
header.top { background:#1d2733; color:#fff; padding:22px 0 18px; }
header.top .wrap, main { max-width:1180px; margin:0 auto; padding:0 28px; }
header.top .kicker { text-transform:uppercase; letter-spacing:.09em; font-size:12px; color:#9fb3c8; }
header.top h1 { margin:4px 0 6px; font-size:26px; font-weight:650; }
header.top .meta { font-size:13px; color:#c5d1de; }
header.top .meta code { color:#fff; }
nav.toc { display:flex; flex-wrap:wrap; gap:6px 16px; margin-top:14px; font-size:13px; }
nav.toc a { color:#cfe3f7; text-decoration:none; border-bottom:1px dotted #6d8aa6; }
main { padding-top:6px; padding-bottom:60px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:18px 26px 20px; margin:18px 0; }
h2 { font-size:19px; margin:0 0 6px; }
h3 { font-size:15px; margin:18px 0 6px; }
p.intro { color:var(--muted); margin:0 0 12px; max-width:900px; }
.headline { font-size:22px; line-height:1.35; font-weight:650; margin:4px 0 14px; max-width:980px; }
.tiles { display:flex; flex-wrap:wrap; gap:12px; margin:0 0 14px; }
.tile { border-radius:8px; padding:8px 16px; min-width:120px; border:1px solid var(--line); }
.tile b { display:block; font-size:28px; line-height:1.1; }
.tile span { font-size:12.5px; color:var(--muted); }
.tile.improved b { color:var(--green); } .tile.regressed b { color:var(--red); }
.tile.no_change b { color:var(--grey); } .tile.holm b { color:var(--blue); }
ul.findings { margin:6px 0 0; padding-left:20px; max-width:980px; }
ul.findings li { margin:3px 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13.5px; font-variant-numeric:tabular-nums; }
th { text-align:left; font-weight:600; border-bottom:2px solid #d0d7de; padding:6px 8px; white-space:nowrap; }
td:first-child { white-space:nowrap; }
td { border-bottom:1px solid #eef0f2; padding:5px 8px; vertical-align:top; }
tbody tr:hover { background:#f8fafc; }
table.kv th { font-weight:500; color:var(--muted); border-bottom:1px solid #eef0f2; width:40%;
  padding:5px 8px; vertical-align:top; }
.num { text-align:right; white-space:nowrap; }
td.held { background:#fff4e0; }
.tag { font-size:11px; text-transform:uppercase; letter-spacing:.05em; color:#9a5b00;
  border:1px solid #f0c98a; border-radius:4px; padding:0 4px; margin-left:4px; }
.pill { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; font-weight:600; }
.pill.improved { background:#e6f4ea; color:#1e6b2a; } .pill.regressed { background:#fdecea; color:#a61b1b; }
.pill.no_change { background:#f0f1f3; color:#57606a; } .pill.muted { color:#9aa1a9; }
.dim { color:var(--muted); }
figure { margin:10px 0 4px; } figure img { max-width:100%; height:auto; display:block; margin:0 auto; }
figcaption { color:var(--muted); font-size:13px; margin-top:6px; max-width:960px; }
p.missing { color:var(--muted); font-style:italic; background:#f6f8fa; border-left:3px solid #d0d7de;
  padding:8px 12px; margin:8px 0; }
details { margin:10px 0 0; } summary { cursor:pointer; color:var(--blue); font-weight:600; }
.bar { display:inline-block; height:9px; background:#9fb3c8; border-radius:2px; vertical-align:middle; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:8px 28px; }
@media (max-width:820px) { .grid2 { grid-template-columns:1fr; } }
footer { color:var(--muted); font-size:12.5px; text-align:center; margin:24px 0; }
@media print { body { background:#fff; } section { break-inside:avoid; border:none; } }
"""


def page(title: str, header_html: str, toc: Sequence[tuple[str, str]], body: str, footer: str) -> str:
    """The whole document: header with run metadata and a table of contents, then sections."""
    links = "".join(f'<a href="#{esc(sid)}">{esc(name)}</a>' for sid, name in toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="wrap">{header_html}<nav class="toc">{links}</nav>'
        f"</div></header><main>{body}<footer>{footer}</footer></main></body></html>\n"
    )


def write_page(path: Any, text: str) -> None:
    """Atomic: a reader (or a browser reloading) never sees half a report."""
    write_text(path, text)
