"""The Format tab's token view as HTML: every token, trained in green, masked in red, ids on hover.
All token text is escaped; nothing from the data is ever interpreted as HTML."""
from __future__ import annotations

import html

from studio.format.render import IGNORE, Rendered

STYLE = ("<style>.tv{font-family:ui-monospace,monospace;line-height:1.9;font-size:14px}"
         ".tv span{border-radius:3px;padding:1px 1px;margin:0 1px;border:1px solid #0002}"
         ".tv .t{background:#c8f7c5}.tv .m{background:#fbd3d3}.tv .s{font-weight:bold;outline:1px dashed #555}"
         ".tv .legend span{margin-right:8px}</style>")


def token_view_html(r: Rendered, lang: str = "en") -> str:
    from studio.locale import tr
    parts = []
    for i, (tid, label, text, special) in enumerate(zip(r.input_ids, r.labels, r.token_text, r.special)):
        # byte-level pieces after the first of a multi-byte character carry no text of their own
        shown = html.escape(text) if text else "<small>+byte</small>"
        shown = shown.replace(" ", "␣").replace("\n", "↵<br>")
        cls = ("t" if label != IGNORE else "m") + (" s" if special else "")
        tip = f"#{i} id {tid} · {tr(lang, 'tv.trained' if label != IGNORE else 'tv.masked_tip')}"
        parts.append(f'<span class="{cls}" title="{html.escape(tip)}">{shown}</span>')
    trained = sum(l != IGNORE for l in r.labels)
    legend = (f'<div class="legend"><span class="t">{tr(lang, "tv.trained")}</span>'
              f'<span class="m">{tr(lang, "tv.masked")}</span><span class="s">{tr(lang, "tv.special")}</span> '
              f'{tr(lang, "tv.counts", n=len(r.input_ids), trained=trained)}'
              f'{" · TRUNCATED" if r.truncated else ""}</div>')
    return f'{STYLE}<div class="tv">{legend}{"".join(parts)}</div>'


def token_view_text(r: Rendered) -> str:
    """A plain-text version (for notes and terminals): [trained] tokens in brackets, masked ones bare."""
    return " ".join(f"[{t}]" if l != IGNORE else t for t, l in zip(r.token_text, r.labels)).replace("\n", "\\n")
