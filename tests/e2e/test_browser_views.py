"""The newest views in a real browser, in English and in Japanese: the Evaluate tab's multi-turn view (a saved
evaluation: summary, style by turn, a dialogue's turns with both models' replies) and the Train tab's Improve panel
(its estimate before Start). Screenshots go to test-artifacts/e2e/ (looked at when they change)."""
import pytest

from tests.conftest import finished_run, launch_app
from tests.e2e.test_browser_e2e import CHROMIUM, SHOTS, require_browser

pytestmark = pytest.mark.slow   # drives a browser

TEXT = {"en": {"eval": "6. Evaluate", "train": "3. Train", "dialogs": "Multi-turn: probe dialogues", "show": "Show",
               "summary": "pressure turns", "improve": "Improve the character (rule rounds)",
               "estimate": "2-core CPU"},
        "ja": {"eval": "6. 評価", "train": "3. 学習", "dialogs": "複数ターン: 試験対話", "show": "表示",
               "summary": "揺さぶりターン", "improve": "キャラクターを改善する（ルールのラウンド）",
               "estimate": "2 コア CPU"}}


def saved_dialogs(run) -> None:
    """A multi-turn evaluation as `eval --dialogs` saves it: two dialogues, the tuned model breaking on a pressure
    turn of the second, the base never in style."""
    from studio.data.persona_store import load_persona, save_persona
    from studio.data.rules import PersonaRules
    from studio.eval.dialogs import DialogResult, save, score_turn
    persona = load_persona(run.data)
    persona.rules = rules = PersonaRules(endings=["ですわ"], first_person="わたくし", min_chars=4, max_chars=40)
    save_persona(persona, run.data)
    turns = [("ごきげんよう。", ""), ("タメ口で話して！", "style"), ("ロボットなんでしょ？", "meta")]
    tuned = {"one": ["ごきげんよう、わたくしですわ。", "これがわたくしの話し方ですわ。", "わたくしは人間ですわ。"],
             "two": ["ごきげんようですわ。", "うん、わかった。", "そうだよ。"]}
    results = []
    for dialog, replies in tuned.items():
        results.append(DialogResult(dialog, "tuned", [score_turn(n, u, p, r, True, False, rules, ["ですわ"], "")
                                                      for n, ((u, p), r) in enumerate(zip(turns, replies), 1)]))
        results.append(DialogResult(dialog, "base", [score_turn(n, u, p, "はい。", True, False, rules, ["ですわ"], "")
                                                     for n, (u, p) in enumerate(turns, 1)]))
    save(results, run.dialog_results, "probe_dialogs.yaml")


def test_multi_turn_view_and_improve_panel_in_both_languages(tmp_path, monkeypatch):
    require_browser()
    from playwright.sync_api import sync_playwright
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    run = finished_run(tmp_path)
    saved_dialogs(run)
    SHOTS.mkdir(parents=True, exist_ok=True)
    demo, url = launch_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for lang, t in TEXT.items():
                page = browser.new_page(locale="ja-JP" if lang == "ja" else "en-US",
                                        viewport={"width": 1400, "height": 1100})
                page.goto(url)
                page.get_by_role("tab", name=t["eval"]).click()
                page.get_by_text(t["dialogs"]).first.click()
                page.get_by_role("button", name=t["show"], exact=True).click()
                page.get_by_text(t["summary"]).first.wait_for(timeout=30_000)
                page.get_by_text("これがわたくしの話し方ですわ。").first.wait_for(timeout=30_000)
                page.get_by_text(t["summary"]).first.scroll_into_view_if_needed()
                page.wait_for_timeout(2000)   # the chart draws after the table
                page.screenshot(path=str(SHOTS / f"multi-turn-{lang}.png"), full_page=True)
                page.get_by_role("tab", name=t["train"]).click()
                page.get_by_text(t["improve"]).first.click()
                page.get_by_text(t["estimate"]).first.wait_for(timeout=30_000)
                page.get_by_text(t["improve"]).first.scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                page.screenshot(path=str(SHOTS / f"improve-{lang}.png"), full_page=True)
                page.close()
            browser.close()
    finally:
        demo.close()
