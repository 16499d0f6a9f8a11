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

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


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
    import contextlib
    import signal

    from studio.jobs.launcher import list_jobs
    from studio.jobs.status import ACTIVE
    for job in list_jobs(tmp_path / "runs"):  # a job a failed step left running (a server) must not outlive the test
        if job.state in ACTIVE and isinstance(job.status.pid, int):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.status.pid, signal.SIGTERM)


def slow_load_hook(tmp: Path) -> Path:
    """A folder with a sitecustomize.py that, in a new Python started with it on PYTHONPATH and
    STUDIO_E2E_SLOW_LOAD set, makes the training worker's base-model load take that many seconds first."""
    folder = tmp / "slow-load-hook"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import os, sys, time\n"
        "if os.environ.get('STUDIO_E2E_SLOW_LOAD'):\n"
        "    sys.path.insert(0, os.getcwd())\n"
        "    import studio.train.worker as worker\n"
        "    load = worker.load_base\n"
        "    def slow(*args, **kwargs):\n"
        "        time.sleep(float(os.environ['STUDIO_E2E_SLOW_LOAD']))\n"
        "        return load(*args, **kwargs)\n"
        "    worker.load_base = slow\n", encoding="utf-8")
    return folder


def row_of(question: str) -> int:
    from studio.data.persona_store import load_persona
    from tests.conftest import SAMPLE
    return next(i for i, p in enumerate(load_persona(SAMPLE).pairs, 1) if p.question == question)


def expected_hits(query: str) -> int:
    from studio.data.persona_store import load_persona
    from studio.data.table_view import view_rows
    from tests.conftest import SAMPLE
    return len(view_rows(load_persona(SAMPLE).pairs, query))


# What may stay ASCII in the Japanese UI: the language choice, pane letters, config values shown as themselves
ALLOWED_ASCII = {"English", "A", "B", "llama2", "llama3", "gemma", "gemma-eos", "chatml", "model", "default"}


def ascii_labels(page) -> set[str]:
    """Visible labels, buttons, table headers and chart texts with letters but no Japanese (issue 26)."""
    import re
    texts = page.evaluate("""() => [...document.querySelectorAll(
        'label, [data-testid=block-info], th, button, svg text')]
        .filter(e => e.offsetParent !== null || e.tagName === 'text')
        .map(e => (e.innerText || e.textContent || '').trim()).filter(t => t)""")
    return {t for t in texts if re.fullmatch(r"[\x00-\x7f]+", t) and re.search(r"[A-Za-z]", t)}


def wait_until_ended(folder_of, what: str) -> None:
    """Wait for a run or job to end, by its status file: as long as it is alive and its state says it is working,
    however busy the machine (a fixed budget fails on a loaded laptop); fail at once if it failed."""
    import time

    from studio.jobs.launcher import refresh
    from studio.jobs.status import ACTIVE
    while True:
        folder = folder_of()
        if folder is not None:
            status = refresh(folder)
            if status.state not in ACTIVE:
                assert status.state == "finished", f"{what} ended {status.state}: {status.error}"
                return
        time.sleep(0.5)


@pytest.mark.slow
def test_whole_loop_in_a_browser(app, monkeypatch):
    """The loop once in English, then the Japanese pass through the app's own language switch (every tab again,
    its labels and the results in Japanese); a screenshot per step in test-artifacts/e2e/<lang>-*.png, and the
    first-hour defects pinned where a user meets them."""
    from playwright.sync_api import expect, sync_playwright

    from studio.jobs.launcher import list_jobs
    from studio.jobs.runs import list_runs
    from studio.locale import tr
    url, model, tmp = app
    from studio.serve.chat_session import ChatSession
    respond = ChatSession._respond

    def slowed(self, *args, **kwargs):   # a tiny model answers in a blink; a real one streams for many seconds
        for texts in respond(self, *args, **kwargs):
            time.sleep(0.08)
            yield texts
    monkeypatch.setattr(ChatSession, "_respond", slowed)
    lang = "en"
    runs = tmp / "runs"
    t = lambda key, **kw: tr(lang, key, **kw)  # noqa: E731 - what the page must say, from the one table
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200}, locale="en-US")
        page.set_default_timeout(60_000)
        shot = lambda name: page.screenshot(path=str(SHOTS / f"{lang}-{name}.png"), full_page=True)  # noqa: E731

        def wait_text(text: str, timeout: int = 60_000) -> None:
            """Wait until `text` shows on the page, in plain text or in a text box's value."""
            page.wait_for_function(
                "t => document.body.innerText.includes(t) || "
                "[...document.querySelectorAll('textarea, input')].some(e => (e.value || '').includes(t))",
                arg=text, timeout=timeout)

        def tab(key: str) -> None:
            page.get_by_role("tab", name=t(key)).click()
            page.wait_for_timeout(800)
        csv = tmp / "ws/personas/ayano/pairs.csv"
        try:
            page.goto(url)
            wait_text(tr("en", "persona.opened", name="ayano", rows=143, notes=""))
            # 1. Persona. Keystroke edits in cells: every Enter saves, none is refused as a conflict (defect 1)
            cells = ["ごきげんよう。お会いできて嬉しいですわ。", "ごきげんよう。今宵は月がきれいですわね。"]
            for i, cell_text in enumerate(cells):
                page.get_by_role("gridcell", name=cell_text).first.dblclick()
                page.keyboard.press("Control+A")
                page.keyboard.insert_text(f"キー入力{i}ですわ。")
                page.keyboard.press("Enter")
                page.wait_for_timeout(400)
            for _ in range(50):
                if "キー入力1ですわ。" in csv.read_text(encoding="utf-8"):
                    break
                page.wait_for_timeout(200)
            assert "キー入力0ですわ。" in csv.read_text(encoding="utf-8")
            assert "キー入力1ですわ。" in csv.read_text(encoding="utf-8")
            assert not (tmp / "ws/personas/ayano/conflicts").exists()
            expect(page.get_by_role("button", name=t("persona.overwrite"))).to_be_hidden()  # only on a conflict
            # search (defect 4): an IME commit filters, fast typing ends on the final text, clearing shows all
            search = page.get_by_label(t("table.search"))
            search.click()
            page.keyboard.insert_text("シャルロット")
            wait_text(t("table.showing", shown=expected_hits("シャルロット"), total=143))
            search.fill("")
            page.keyboard.type("紅茶", delay=0)
            wait_text(t("table.showing", shown=expected_hits("紅茶"), total=143))
            search.fill("")
            wait_text(t("table.total", total=143))
            # the selection is in before Duplicate is pressed (a busy machine may still be drawing the table, and a
            # click on a row being redrawn selects its neighbour): click until the row shows as selected
            selected = page.get_by_label(t("table.selected"))
            for _ in range(10):
                page.get_by_role("gridcell", name="こんにちは！").first.click()
                page.wait_for_timeout(700)
                if selected.input_value() == str(row_of("こんにちは！")):
                    break
            expect(selected).to_have_value(str(row_of("こんにちは！")))
            page.get_by_role("button", name=t("table.duplicate")).click()
            wait_text("DUPLICATE")
            assert csv.read_text(encoding="utf-8").count("こんにちは！,") == 2
            # layout (issue 26): every column of the table has its width, so no header is wrapped letter by letter
            # (the 'drafted by' column had none: a 200 px header row); the upload box names itself on one line
            header = page.locator("thead").first.evaluate("e => e.getBoundingClientRect().height")
            assert header < 80, f"the table's header row is {header} px tall"
            named = tmp / "tamakichi_pairs_cp932.csv"   # a chosen file is named whole (it showed as '.cs')
            named.write_text("question,answer\n", encoding="utf-8")
            with page.expect_file_chooser() as chooser:
                page.get_by_text("Click to Upload").first.click()
            chooser.value.set_files(str(named))
            stem = page.locator(".file-preview .stem").first
            expect(stem).to_have_text("tamakichi_pairs_cp932")
            assert stem.evaluate("e => e.scrollWidth <= e.clientWidth && e.clientWidth > 0"), "the file name is cut"
            page.locator("button[aria-label='Clear']").first.click()
            expect(page.locator(".file-preview")).to_have_count(0)   # the box is empty again
            shot("1-persona")
            # text typed into a field is on disk before the field is left (a crash loses nothing shown)
            rules = page.get_by_label(t("persona.rules"))
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
            tab("tab.format")
            page.get_by_label(t("format.source")).fill(str(model))
            page.get_by_label(t("format.source")).press("Enter")
            page.get_by_label("llama2").check()
            page.get_by_role("button", name=t("format.render")).click()
            wait_text("TEMPLATE_MISMATCH")
            wait_text(t("col.fix"))
            expect(page.locator(".tv span.t").first).to_be_visible()
            # a second render with other bins draws them at once (it showed the previous render's until pressed twice)
            bins = "n => [...document.querySelectorAll('#format-lengths svg text')].some(e => e.textContent === n)"
            page.wait_for_function(bins, arg="000-063")                # max length 512: eight bins of 64
            page.get_by_label(t("format.max_length")).fill("256")
            page.get_by_role("button", name=t("format.render")).click()
            page.wait_for_function(bins, arg="000-031")                # 256: bins of 32, after one press
            # Issue 37: the bins stand in the numbers' order (they were sorted as text: 0-31, 128-159, 32-63)
            shown = page.evaluate("[...document.querySelectorAll('#format-lengths svg text')].map(e => e.textContent)"
                                  ".filter(t => /^\\d+-\\d+$/.test(t))")
            assert shown == sorted(shown, key=lambda b: int(b.split("-")[0])) and len(shown) >= 3, shown
            shot("2-format")
            # 3. Train, with the tab open before the run's first step: the live line must be drawn (defect 3)
            tab("tab.train")
            wait_text("`ayano`" if False else "ayano")  # the persona Start trains is named (defect 5)
            model_box = page.get_by_label(t("train.model"))
            model_box.fill(str(model))
            model_box.press("Tab")
            page.wait_for_timeout(2000)  # a model picked (and left) loads its recipe into every field first
            page.get_by_label("max_steps").fill("6")
            page.get_by_label("max_steps").press("Tab")
            page.wait_for_timeout(500)
            page.get_by_role("button", name=t("train.start")).click()
            wait_until_ended(lambda: next((r.path for r in list_runs(runs)), None), "the training run")
            wait_text(t("train.progress_line", run="", state=t("state.finished"), step=6, total=6, pct="100%",
                        eta="").lstrip(": ").strip())
            page.wait_for_function("""() => {
                const p = document.querySelector('#loss-plot path[aria-roledescription="line mark"]');
                return p && p.getAttribute('stroke') && p.getAttribute('stroke') !== 'none'
                    && (p.getAttribute('d') || '').split('L').length >= 6; }""", timeout=20_000)
            shot("3-train")
            # 4. Chat, blind (defect 6): which models are compared is hidden until the vote
            tab("tab.chat")
            page.get_by_label(t("chat.blind")).check()
            expect(page.get_by_role("combobox", name=t("chat.model_a"))).to_be_hidden()
            wait_text(t("chat.hidden").replace("**", ""))
            page.get_by_label(t("chat.message")).fill("好きなケーキは何？")
            page.get_by_role("button", name=t("chat.send")).click()
            # a random tiny base never reaches its end of turn: it is cut at the limit, or stopped as it repeats itself
            page.wait_for_function("ts => ts.some(t => document.body.innerText.includes(t))",
                                   arg=[t("chat.cut").strip(), t("chat.looped").strip()], timeout=120_000)
            wait_text(t("chat.vote_to_reveal"))
            expect(page.get_by_role("combobox", name=t("chat.model_a"))).to_be_hidden()
            page.get_by_role("button", name=t("chat.vote_a")).click()
            wait_text(t("chat.vote_saved", which="A", a="", b="").split(" ")[0])
            expect(page.get_by_role("combobox", name=t("chat.model_a"))).to_be_visible()  # revealed after the vote
            # the Serve section: a refused start stays readable (no job yet, so the panel's timer must not wipe it)
            page.get_by_text(t("serve.title_short")).click()
            port = page.get_by_label(t("serve.port"), exact=True)
            expect(port).to_be_visible()
            page.wait_for_timeout(1000)  # the accordion mounts its content on first open: typing before is lost
            port.fill("80")
            port.press("Tab")  # gradio's Number takes the value on blur; a click right after may send the old one
            page.wait_for_timeout(500)
            expect(port).to_have_value("80")
            page.get_by_role("button", name=t("serve.go")).click()
            wait_text(t("err.serve.bad_port"))
            page.wait_for_timeout(3500)  # two ticks of the job panel's timer
            wait_text(t("err.serve.bad_port"), 1_000)
            shot("4-chat")
            # 5. Merge the run, verified
            tab("tab.merge")
            page.get_by_role("button", name=t("merge.go")).click()
            wait_until_ended(lambda: next((j.path for j in list_jobs(runs, ("merge",))), None), "the merge")
            wait_text(t("merge.summary", out="", size="", diff="", tol="").split("(")[0].strip()[:6])
            shot("5-merge")
            # 6. Evaluate: the bars of base and tuned stand side by side, none stacked on another (defect 7)
            tab("tab.eval")
            page.get_by_role("button", name=t("eval.go")).click()
            wait_until_ended(lambda: next((j.path for j in list_jobs(runs, ("eval",))), None), "the evaluation")
            wait_text(t("eval.done", n=35, path="").split("。")[0].split(";")[0])
            page.wait_for_function("() => document.querySelectorAll('#eval-bars path[aria-roledescription=\"bar\"]')"
                                   ".length >= 4")
            bars = page.evaluate("""() => [...document.querySelectorAll('#eval-bars path[aria-roledescription="bar"]')]
                .map(p => p.getBoundingClientRect()).map(r => [Math.round(r.x), Math.round(r.y + r.height)])""")
            assert len({x for x, _ in bars}) == len(bars), bars     # every bar in its own place
            assert len({bottom for _, bottom in bars}) == 1, bars   # all standing on the axis: nothing stacked
            shot("6-evaluate")
            # 7. A reload remembers this browser's persona, and the Train tab shows the run's own settings (5)
            tab("tab.persona")
            page.get_by_label(t("persona.new_name")).fill("zz-second")
            stored = page.evaluate("localStorage.getItem('persona-studio')")
            page.get_by_role("button", name=t("persona.create")).click()
            wait_text(t("persona.created", name="zz-second"))
            # the browser stores what it opened (in a request after the create's): wait until it has
            page.wait_for_function("s => localStorage.getItem('persona-studio') !== s", arg=stored)
            tab("tab.format")   # Issue 37: a reload always landed on the first tab, not the one the user was on
            page.wait_for_function("() => (localStorage.getItem('persona-studio-tab') || '').includes('format')")
            page.reload()
            expect(page.get_by_role("tab", name=t("tab.format"))).to_have_attribute("aria-selected", "true")
            tab("tab.persona")
            wait_text(t("persona.opened", name="zz-second", rows=0, notes=""))
            tab("tab.train")
            wait_text("zz-second")
            expect(page.get_by_label("max_steps")).to_have_value("6")
            shot("7-reload")
            # The Japanese pass: the switch changes labels in the browser and messages on the server, on every tab
            lang = "ja"
            page.get_by_label("日本語").check()
            expect(page.get_by_role("tab", name="1. ペルソナ")).to_be_visible()
            tab("tab.persona")
            page.get_by_role("button", name=t("persona.reload")).click()
            wait_text(t("persona.opened", name="zz-second", rows=0, notes=""))
            # the upload boxes drawn in English before the switch say their drop text in Japanese too
            wait_text("ファイルをここにドロップ")
            assert "Drop File Here" not in page.evaluate("document.body.innerText")
            # a CSV dropped on the table itself (gradio's own import) says, in Japanese, where files go
            from studio.locale.gradio_own import GRADIO_OWN
            dropped = page.evaluate_handle("""() => { const d = new DataTransfer();
                d.items.add(new File(['question,answer\\nq,a\\n'], 'x.csv', {type: 'text/csv'})); return d; }""")
            page.locator("table").first.dispatch_event("drop", {"dataTransfer": dropped})
            expect(page.get_by_text(GRADIO_OWN["ja"]["dataframe.import_static_columns"])).to_be_visible()
            # its title too: gradio draws the toast's type ('Error'); the page's rules put the reader's word there
            title = page.locator("span.toast-title.error").first
            assert title.evaluate("e => getComputedStyle(e, '::before').content") == '"エラー"'
            assert title.evaluate("e => getComputedStyle(e).fontSize") == "0px"   # the English word is not shown
            shot("1-persona")
            tab("tab.format")
            expect(page.get_by_role("button", name=t("format.render"))).to_be_visible()
            shot("2-format")
            tab("tab.train")
            page.get_by_role("gridcell", name=list_runs(runs)[-1].id).first.click()  # the finished run, in Japanese
            wait_text(t("state.finished"))
            expect(page.get_by_label(t("train.4bit"))).to_be_visible()
            assert ascii_labels(page) <= ALLOWED_ASCII, ascii_labels(page) - ALLOWED_ASCII
            shot("3-train")
            tab("tab.chat")
            expect(page.get_by_role("button", name=t("chat.send"))).to_be_visible()
            # Issue 37: a message sent, and a vote pressed, while the answers stream are neither lost nor silent
            from studio.serve.votes import read_votes, votes_path
            voted = len(read_votes(votes_path()))
            box = page.get_by_label(t("chat.message"))
            box.fill("一つ目の質問")
            page.get_by_role("button", name=t("chat.send")).click()
            page.wait_for_function("() => document.body.innerText.includes('一つ目の質問')")   # streaming (slowed)
            box.fill("二つ目の質問")
            page.get_by_role("button", name=t("chat.send")).click()
            wait_text(t("chat.queued", n=1), 10_000)
            expect(box).to_have_value("")
            page.get_by_role("button", name=t("chat.vote_b")).click()
            wait_text(t("chat.wait_for_answers"), 10_000)   # in the status box and in a toast
            shot("4-chat-streaming")
            page.wait_for_function("() => (document.body.innerText.match(/二つ目の質問/g) || []).length >= 2",
                                   timeout=120_000)         # the second message, answered in both panes
            assert len(read_votes(votes_path())) == voted    # the vote pressed while answering was not recorded
            shot("4-chat")
            tab("tab.merge")
            expect(page.get_by_role("button", name=t("merge.go"))).to_be_visible()
            method = page.get_by_label(t("merge.method"))   # the combine method's name is read whole
            assert method.evaluate("e => e.scrollWidth <= e.clientWidth"), method.input_value()
            shot("5-merge")
            tab("tab.eval")
            wait_text(t("metric.style_rate"))
            # the chart drawn in English is redrawn with Japanese bar names and legend, not only new axis titles
            page.wait_for_function("n => [...document.querySelectorAll('#eval-bars svg text')]"
                                   ".some(e => e.textContent === n)", arg=t("eval.model.tuned"))
            assert ascii_labels(page) <= ALLOWED_ASCII, ascii_labels(page) - ALLOWED_ASCII
            shot("6-evaluate")
            # Issue 37: Stop pressed while the base model loads (quick-test settings) ends the run at once: the load
            # no longer ran on into the trainer's set-up and a first step, nor did 'stopping' turn back to 'running'.
            # The worker is a new process: a sitecustomize on its path makes its load take 60 s (the test's only).
            monkeypatch.setenv("PYTHONPATH", str(slow_load_hook(tmp)))
            monkeypatch.setenv("STUDIO_E2E_SLOW_LOAD", "60")
            tab("tab.persona")   # the sample persona again (zz-second, made above, has no rows to train)
            picker = page.get_by_label(t("persona.pick"), exact=True)
            picker.click()
            picker.fill("ayano")
            picker.press("Enter")
            tab("tab.train")
            line = t("train.persona_now", name="@", folder="", rows=0, hash="")
            prefix = line.replace("**", "").split("@")[0].strip()
            page.wait_for_function(   # the persona Start trains is the sample again (its folder: ayano)
                "p => (document.body.innerText.split('\\n').find(l => l.includes(p)) || '').includes('ayano')",
                arg=prefix)
            page.get_by_role("button", name=t("train.quick")).click()
            wait_text(t("train.quick_set", steps=5)[:20])
            page.get_by_role("button", name=t("train.start")).click()
            wait_text(t("train.phase.load", model="", elapsed="")[:12], 120_000)
            started = time.time()
            page.get_by_role("button", name=t("train.stop")).click()
            newest = lambda: max(list_runs(runs), key=lambda r: r.id)   # noqa: E731
            while newest().state in ("queued", "running", "stopping") and time.time() - started < 90:
                time.sleep(0.5)
            stopped = newest().status
            assert stopped.state == "stopped" and (stopped.step or 0) == 0, stopped
            assert time.time() - started < 30, "the load ran on after Stop"
            wait_text(t("state.stopped"))
            shot("3-train-stopped-while-loading")
        except Exception:
            shot("failure")
            raise
        finally:
            browser.close()
