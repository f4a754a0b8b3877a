"""A self-contained HTML report that opens offline: plotly's JavaScript is embedded once."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from flywheel import __version__

STYLE = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#14213d;color:#fff;padding:24px 40px}header h1{margin:0 0 4px 0;font-size:26px}
header p{margin:0;opacity:.8}main{padding:24px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:20px 24px;margin-bottom:20px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{margin-top:0;font-size:19px}.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{flex:1 1 160px;background:#eef2f8;border-radius:6px;padding:12px 16px}
.card b{display:block;font-size:22px;margin-top:4px}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e6ea}th{background:#f0f2f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}.note{color:#5b6475;font-size:13px}
"""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)
    note: str = ""


class Report:
    """Collects sections, renders one HTML file. The first figure carries plotly.js inline."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []
        self._js_included = False

    def section(self, title: str, note: str = "") -> Section:
        s = Section(title, note=note)
        self.sections.append(s)
        return s

    def figure(self, section: Section, fig: go.Figure) -> None:
        fig.update_layout(margin=dict(l=40, r=20, t=40, b=40), height=380, template="plotly_white")
        section.parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=not self._js_included,
                                         config={"displaylogo": False}))
        self._js_included = True

    @staticmethod
    def cards(section: Section, items: list[tuple[str, str]]) -> None:
        inner = "".join(f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in items)
        section.parts.append(f'<div class="cards">{inner}</div>')

    @staticmethod
    def table(section: Section, headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> None:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(
                f'<td class="num">{html.escape(str(v))}</td>' if i in numeric else f"<td>{html.escape(str(v))}</td>"
                for i, v in enumerate(row)) + "</tr>"
            for row in rows
        )
        section.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def render(self) -> str:
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        body = "".join(
            f"<section><h2>{html.escape(s.title)}</h2>"
            + (f'<p class="note">{html.escape(s.note)}</p>' if s.note else "")
            + "".join(s.parts) + "</section>"
            for s in self.sections
        )
        return (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{STYLE}</style></head><body><header><h1>{html.escape(self.title)}</h1>"
            f"<p>{html.escape(self.subtitle)} · generated {stamp} · Flywheel {__version__}</p></header>"
            f"<main>{body}</main></body></html>"
        )

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path
