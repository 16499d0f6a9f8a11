"""The app's few style rules, given to launch(css=...).

gradio 6 titles a toast with its type ('Error', 'Warning', 'Info') from the frontend, untranslated and ignoring the
title a handler passes; the language switch marks <html lang>, and these rules put the reader's word in its place."""

TOAST_TITLES = {"ja": {"error": "エラー", "warning": "警告", "info": "お知らせ", "success": "完了"}}


def _toast_rules() -> str:
    rules = []
    for lang, words in TOAST_TITLES.items():
        for kind, word in words.items():
            rules.append(f'html[lang="{lang}"] span.toast-title.{kind} {{ font-size: 0; }}\n'
                         f'html[lang="{lang}"] span.toast-title.{kind}::before {{ content: "{word}"; '
                         f'font-size: var(--text-md); }}\n'
                         f'html[lang="{lang}"] span.toast-title.{kind} > * {{ font-size: var(--text-sm); }}')
    return "\n".join(rules)


CSS = _toast_rules()
