"""The whole loop in a real browser: Playwright driving Debian's Chromium against the app, on a tiny model.

Screenshots of every step go to test-artifacts/e2e/ (kept by CI on failure). Without Chromium the test is skipped
on a developer's machine, but fails under CI=true, where test.sh installs it.
"""
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import launch_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "e2e"


def require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed"
    else:
        if Path(CHROMIUM).exists():
            return
        reason = "Debian's chromium is not installed"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; test.sh installs it in CI")
    pytest.skip(reason)


@pytest.fixture
def app(tmp_path, monkeypatch):
    require_browser()
    from studio.tiny import save_tiny_model
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    model = save_tiny_model(tmp_path / "tiny-model", "chatml")
    demo, url = launch_app()
    yield url, model, tmp_path
    demo.close()


def test_whole_loop_in_a_browser(app):
    from playwright.sync_api import expect, sync_playwright
    url, model, tmp = app
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200}, locale="en-US")
        page.set_default_timeout(60_000)
        shot = lambda name: page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # noqa: E731

        def wait_text(text: str, timeout: int = 60_000) -> None:
            """Wait until `text` shows on the page, in plain text or in a text box's value."""
            page.wait_for_function(
                "t => document.body.innerText.includes(t) || "
                "[...document.querySelectorAll('textarea, input')].some(e => (e.value || '').includes(t))",
                arg=text, timeout=timeout)
        try:
            page.goto(url)
            # 1. Persona: select a row, duplicate it -> saved, and validation reports the duplicate
            wait_text("Opened ayano: 143 rows.")
            page.get_by_role("gridcell", name="こんにちは！").first.click()
            page.get_by_role("button", name="Duplicate selected").click()
            wait_text("DUPLICATE")
            assert (tmp / "ws/personas/ayano/pairs.csv").read_text(encoding="utf-8").count("こんにちは！,") == 2
            shot("1-persona")
            # text typed into a field is on disk before the field is left (a crash loses nothing shown)
            page.get_by_text("Character name", exact=True).first.click()  # open the accordion
            rules = page.get_by_label("Style rules")
            rules.click()
            rules.press("End")
            page.keyboard.insert_text("追記テスト")  # as an IME commits Japanese text: no key presses
            yaml_file = tmp / "ws/personas/ayano/persona.yaml"
            for _ in range(50):
                if "追記テスト" in yaml_file.read_text(encoding="utf-8"):
                    break
                page.wait_for_timeout(200)
            assert "追記テスト" in yaml_file.read_text(encoding="utf-8")
            assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"  # still typing: no blur yet
            # 2. Format: the token view and a Doctor finding (llama2 on a ChatML model: TEMPLATE_MISMATCH)
            page.get_by_role("tab", name="2. Format").click()
            page.get_by_label("Tokenizer / model").fill(str(model))
            page.get_by_label("Tokenizer / model").press("Enter")
            page.get_by_label("llama2").check()
            page.get_by_role("button", name="Render and check").click()
            wait_text("TEMPLATE_MISMATCH")
            expect(page.locator(".tv span.t").first).to_be_visible()
            shot("2-format")
            # 3. Train: a few steps on the tiny model; the loss plot fills as metrics arrive
            page.get_by_role("tab", name="3. Train").click()
            model_box = page.get_by_label("Base model")
            model_box.fill(str(model))
            model_box.press("Enter")
            page.wait_for_timeout(2000)  # picking a model loads its recipe into every field first
            page.get_by_label("max_steps").fill("6")
            page.get_by_label("max_steps").press("Tab")
            page.get_by_role("button", name="Start training").click()
            wait_text("finished · step 6/6", 180_000)
            page.get_by_role("button", name="Refresh").click()
            page.wait_for_function("() => document.querySelector('path[aria-roledescription=\"line mark\"]')")
            shot("3-train")
            # 4. Chat: base vs the run, blind, then a vote
            page.get_by_role("tab", name="5. Chat").click()
            page.get_by_label("Blind mode").check()
            page.get_by_label("Message").fill("好きなケーキは何？")
            page.get_by_role("button", name="Send").click()
            wait_text("[cut: max new tokens]", 120_000)  # a random tiny base never reaches its end of turn
            wait_text("Vote to reveal the models.")
            page.get_by_role("button", name="A is better").click()
            wait_text("Vote saved: A")
            shot("4-chat")
            # 5. Merge the run, verified
            page.get_by_role("tab", name="4. Merge").click()
            time.sleep(1)
            page.get_by_role("button", name="Merge and verify").click()
            wait_text("Verified: merged vs base+adapter", 120_000)
            shot("5-merge")
            # 6. Evaluate base vs tuned on the persona's probe questions
            page.get_by_role("tab", name="6. Evaluate").click()
            time.sleep(1)
            page.get_by_role("button", name="Evaluate base vs tuned").click()
            wait_text("Evaluated 35 probe questions", 240_000)
            shot("6-evaluate")
        except Exception:
            shot("failure")
            raise
        finally:
            browser.close()
