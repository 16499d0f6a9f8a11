"""The UI's language: gr.I18n for labels (from studio.locale, the one table of text), the language switch, and
the per-session language every handler reads to render its messages."""
from __future__ import annotations

import gradio as gr

from studio.locale import CATALOGS, lang_of
from studio.locale.gradio_own import GRADIO_OWN

# Switches gradio's own label language in the browser (labels are translated client-side); the module that
# exports changeLocale has a hashed name, so it is found among the page's loaded scripts.
SWITCH_LABELS_JS = """
async (lang) => {
  const url = performance.getEntriesByType('resource').map(e => e.name)
      .find(n => /\\/assets\\/core-[^/]*\\.js/.test(n));
  if (url) { try { (await import(url)).changeLocale(lang); } catch (e) { console.warn('locale switch', e); } }
  document.documentElement.setAttribute('lang', lang);   // for the rules in studio.ui.style (toast titles)
  return lang;
}
"""


# Upload boxes carry this class: gradio draws their drop text ("Drop File Here") once, in the browser's language,
# and only a remount redraws it, so the language switch hides and shows each one (a chosen file stays chosen)
UPLOAD = "studio-upload"


def uploads(demo: gr.Blocks) -> list:
    return [b for b in demo.blocks.values() if UPLOAD in (getattr(b, "elem_classes", None) or [])]


def uploads_shown(boxes: list, visible: bool):
    """A handler that hides (or shows again) every upload box, changing nothing else."""
    def update() -> list:
        return [type(box)(visible=visible) for box in boxes]
    return update


def make_i18n() -> gr.I18n:
    return gr.I18n(**{lang: {**GRADIO_OWN.get(lang, {}), **texts} for lang, texts in CATALOGS.items()})


def request_lang(request: gr.Request | None) -> str:
    """The browser's preferred language, from its Accept-Language header."""
    headers = getattr(request, "headers", None) or {}
    return lang_of(headers.get("accept-language", ""))
