"""The class report: one self-contained HTML page beside the batch CSV (``grades.html`` beside
``grades.csv``).

It shows the score histogram (inline SVG), how many students made each mistake in each function,
the students' table (the CSV's numbers) with links to each student's feedback, and the pairs of
students whose work looks copied (``similarity.py``), with the evidence. The page loads nothing:
no script at all, its style inline, and a Content-Security-Policy that forbids every network
request, so it opens offline and from an e-mail attachment alike.
"""

from __future__ import annotations

import html
import logging
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from ..escaping import clean_text, shown_name
from .diagnose import TAGS
from .grader import points_text
from .similarity import SimilarPair, similar_pairs

logger = logging.getLogger(__name__)

BINS = 10
MAX_PAIRS = 3000  # rows of the similar-pairs table: at ~350 bytes each the page stays under 2 MB
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:90em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font:12px system-ui,sans-serif}
.none{color:#777}
"""


def report_path(csv_path: Any) -> Path:
    """Where the class report of ``csv_path`` goes: the same name with ``.html``."""
    path = Path(csv_path)
    return path.with_name(path.name + ".report.html") if path.suffix.lower() == ".html" else path.with_suffix(".html")


def _sources(rows: list[Any], config: Any) -> dict[str, str]:
    """Each graded student's graded file, read again (never through a link) for the comparison."""
    from .submission import load_submission

    template = config.get_assignment().template_name
    out = {}
    for row in rows:
        if row.report is None:
            continue
        try:
            source = load_submission(row.path, config.file, template, single_link=True).source
            out[row.student] = source.decode("utf-8", errors="replace")
        except Exception as error:  # unreadable now: leave it out of the comparison, say so in the log
            logger.warning("class report: could not read %s again: %s", shown_name(row.path), clean_text(str(error), newlines=False))
    return out


def _answers(rows: list[Any]) -> dict[str, list[tuple[str, int, str, str]]]:
    return {
        row.student: [(t.function, t.number, t.case_id, t.value_digest) for t in row.report.tests if not t.passed]
        for row in rows if row.report is not None
    }  # fmt: skip


def histogram_svg(scores: list[float], max_score: float) -> str:
    """Bars of the totals in BINS equal bins of [0, max]; the last bin holds the full marks."""
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, int(BINS * s / max_score)) if max_score > 0 else 0] += 1
    width, height, bar, pad = 520, 180, 48, 18  # pad: room for the tallest bar's count above it
    top = max(counts) or 1
    parts = [f'<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40 + pad}" role="img" aria-label="score histogram"><g transform="translate(0,{pad})">']
    for i, c in enumerate(counts):
        lo, hi = max_score * i / BINS, max_score * (i + 1) / BINS
        h = round(height * c / top)
        x = 10 + i * (bar + 4)
        label = f"{points_text(lo)}–{points_text(hi)}"
        parts.append(
            f'<g class="bin" data-low="{points_text(lo)}" data-high="{points_text(hi)}" data-count="{c}"><title>{label}: {c}</title>'
            f'<rect x="{x}" y="{height - h}" width="{bar}" height="{h}" fill="#4a78b5"/>'
            f'<text x="{x + bar / 2}" y="{height - h - 3}" text-anchor="middle">{c}</text>'
            f'<text x="{x + bar / 2}" y="{height + 15}" text-anchor="middle">{html.escape(label)}</text></g>'
        )
    parts.append(
        f'<text x="10" y="{height + 34}">total score out of {points_text(max_score)} (a bar holds its lower bound; '
        f'the last also {points_text(max_score)})</text></g></svg>'
    )
    return "".join(parts)


def render_class_report(rows: list[Any], config: Any, feedback_dir: str, pairs: Optional[list[SimilarPair]] = None) -> str:
    """The page's HTML. ``feedback_dir`` is the feedback folder's name relative to the page."""
    e = html.escape
    functions = list(config.functions)
    graded = [r for r in rows if r.report is not None]
    scores = [r.report.score for r in graded]
    max_score = config.max_score
    pairs = similar_pairs(_sources(rows, config), _answers(rows)) if pairs is None else pairs

    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           f"<title>Class report: {e(config.get_assignment().describe())}</title><style>{STYLE}</style></head><body>",
           f"<h1>Class report: {e(config.get_assignment().describe())}</h1>"]  # fmt: skip
    summary = f"{len(graded)} of {len(rows)} submissions graded"
    if scores:
        summary += f"; mean {points_text(statistics.fmean(scores))}, median {points_text(statistics.median(scores))} of {points_text(max_score)} points"
    out.append(f'<p id="summary">{e(summary)}.</p>')

    out.append("<h2>Scores</h2>" + histogram_svg(scores, max_score))

    out.append("<h2>Mistakes by function</h2><p>Students whose function showed each mistake (tag).</p>")
    counts = {f: Counter(tag for r in graded for tag in r.report.functions[f].tags) for f in functions}
    tags = [t for t in TAGS if any(t in c for c in counts.values())]
    if tags:
        out.append('<table id="mistakes"><tr><th>function</th>' + "".join(f"<th>{e(t)}</th>" for t in tags) + "</tr>")
        for f in functions:
            out.append(f"<tr><th>{e(f)}</th>" + "".join(f'<td class="n">{counts[f][t] or ""}</td>' for t in tags) + "</tr>")
        out.append("</table>")
    else:
        out.append('<p id="mistakes" class="none">No mistakes found.</p>')

    out.append("<h2>Students</h2>")
    out.append('<table id="students"><tr><th>student</th>' + "".join(f"<th>{e(f)}</th>" for f in functions)
               + "<th>total</th><th>max_score</th><th>tags</th><th>feedback</th></tr>")  # fmt: skip
    for r in rows:
        link = f'<a href="{e(quote(feedback_dir))}/{e(quote(r.student + ".txt"))}">feedback</a>'
        if r.report is None:
            cells = ['<td class="n"></td>'] * len(functions) + ['<td class="n"></td>', f'<td class="n">{points_text(max_score)}</td>', f"<td>not graded: {e(r.error)}</td>"]
        else:
            rep = r.report
            cells = [f'<td class="n">{points_text(rep.functions[f].score)}</td>' for f in functions]
            tag_text = "; ".join(f"{f}: {', '.join(s.tags)}" for f, s in rep.functions.items() if s.tags)
            cells += [f'<td class="n">{points_text(rep.score)}</td>', f'<td class="n">{points_text(rep.max_score)}</td>', f"<td>{e(tag_text)}</td>"]
        out.append(f"<tr><td>{e(r.student)}</td>{''.join(cells)}<td>{link}</td></tr>")
    out.append("</table>")

    out.append("<h2>Similar pairs</h2><p>Pairs whose code is near-identical once names and formatting are normalised "
               "(syntax trees compared), or whose wrong answers on the same cases are bit-identical. Evidence, not a verdict.</p>")  # fmt: skip
    out.append('<table id="similar-pairs"><thead><tr><th>student</th><th>student</th><th>evidence</th></tr></thead><tbody>')
    # The strongest pairs first; a whole class of copies would otherwise outgrow the page.
    ranked = sorted(pairs, key=lambda p: (-(p.code_similarity or 0.0), -len(p.identical_outputs), p.first, p.second))
    for p in ranked[:MAX_PAIRS]:
        out.append(f"<tr><td>{e(p.first)}</td><td>{e(p.second)}</td><td>{e(p.evidence)}</td></tr>")
    out.append("</tbody></table>")
    if not pairs:
        out.append('<p class="none">No similar pairs.</p>')
    elif len(pairs) > MAX_PAIRS:
        out.append(f'<p id="pairs-left-out">{len(pairs) - MAX_PAIRS} weaker pairs are not listed (the page stays under 2 MB).</p>')
    out.append("<p class=\"none\">Written by handprop grade --batch.</p></body></html>\n")
    return "\n".join(out)


def write_class_report(rows: list[Any], config: Any, csv_path: Any, feedback: Path) -> Path:
    """Write the class report beside ``csv_path`` (atomically), linking into the folder ``feedback``,
    and return its path."""
    from .report import write_atomic

    target = report_path(csv_path)
    return write_atomic(target, render_class_report(rows, config, Path(feedback).name))
