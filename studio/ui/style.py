"""The app's few style rules, given to launch(css=...).

gradio 6 titles a toast with its type ('Error', 'Warning', 'Info') from the frontend, untranslated and ignoring the
title a handler passes; the language switch marks <html lang>, and these rules put the reader's word in its place.
A chosen file's name is shown whole (see FILE_NAME_RULES)."""

from studio.locale import LANGS, tr

TOAST_KINDS = ("error", "warning", "info", "success")


def _toast_rules() -> str:
    rules = []
    for lang in LANGS:
        if lang == "en":
            continue   # gradio's own word is the English one
        for kind in TOAST_KINDS:
            word = tr(lang, f"toast.{kind}")
            rules.append(f'html[lang="{lang}"] span.toast-title.{kind} {{ font-size: 0; }}\n'
                         f'html[lang="{lang}"] span.toast-title.{kind}::before {{ content: "{word}"; '
                         f'font-size: var(--text-md); }}\n'
                         f'html[lang="{lang}"] span.toast-title.{kind} > * {{ font-size: var(--text-sm); }}')
    return "\n".join(rules)


# A chosen file's name in a narrow upload box: gradio gives the size its own 128 px and cut the name to '.c';
# the name takes the box's width and wraps, the size goes under it.
FILE_NAME_RULES = """
.file-preview tr.file { flex-wrap: wrap; }
.file-preview td.filename { flex: 1 1 100%; }
.file-preview td.filename .stem { white-space: normal; overflow-wrap: anywhere; }
.file-preview td.download { min-width: 0; width: auto; }
"""

CSS = _toast_rules() + FILE_NAME_RULES
