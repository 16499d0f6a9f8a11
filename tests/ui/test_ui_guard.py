"""Every UI handler is guarded: an unexpected exception reaches the browser as a sentence in the session's
language (not a blank 'Error'), and its traceback goes to workspace/logs/errors.log."""
import gradio as gr
import pytest
from gradio_client import Client

from studio.core.errors import StudioError
from studio.ui.guard import guard_all, guarded


def test_unexpected_errors_become_sentences_with_the_traceback_in_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))

    def crash(text: str, lang: str) -> str:
        return {}["missing " + text]

    def refuse(text: str, lang: str) -> str:
        raise StudioError("err.import.no_file", path=text)

    def stream(text: str, lang: str):
        yield "first"
        raise OSError(36, "File name too long", "x" * 300)

    with gr.Blocks() as demo:
        box, lang, out = gr.Textbox(), gr.Textbox(), gr.Textbox()
        gr.Button().click(crash, [box, lang], out, api_name="crash")
        gr.Button().click(refuse, [box, lang], out, api_name="refuse")
        gr.Button().click(stream, [box, lang], out, api_name="stream")
    guard_all(demo)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1")
    try:
        c = Client(url, verbose=False)
        with pytest.raises(Exception) as e:
            c.predict("key", "ja", api_name="/crash")
        assert "予期しない問題" in str(e.value) and "KeyError" in str(e.value) and "errors.log" in str(e.value)
        assert "KeyError: 'missing key'" in (tmp_path / "logs" / "errors.log").read_text()
        with pytest.raises(Exception) as e:
            c.predict("/nowhere.csv", "en", api_name="/refuse")
        assert "/nowhere.csv" in str(e.value)
        with pytest.raises(Exception) as e:
            c.predict("x", "en", api_name="/stream")
        assert "The system refused: File name too long" in str(e.value)
    finally:
        demo.close()


def test_the_error_toast_is_titled_in_the_session_language():
    def crash(text: str, lang: str) -> str:
        raise ValueError(text)
    for lang, title in (("ja", "エラー"), ("en", "Error")):
        with pytest.raises(gr.Error) as e:
            guarded(crash)("x", lang)
        assert e.value.title == title
