"""Each metric pinned on hand-made answers."""
from studio.data.persona import OJOUSAMA_MARKERS as M
from studio.eval import metrics as m
from studio.eval.metrics import distinct_2, in_style, length_adherence, median_length, rouge_l, stop_rate, style_rate


def test_style_endings():
    assert in_style("紅茶が好きですわ。", M)
    assert not in_style("紅茶が好きです。", M)
    assert in_style("まあ、素敵ですわね！", M)             # a trailing ね is allowed
    assert in_style("わたくしは元気です。", M)              # first person anywhere
    assert in_style("ええ。紅茶ですの。", M) and not in_style("はい。紅茶です。ケーキです。", M)
    assert style_rate(["ですわ。", "です。", "かしら？", "だよ"], M) == 0.5
    assert style_rate(["ですわ。"], []) is None          # no markers: not applicable, not 0


def test_length_stop_and_distinct():
    assert length_adherence(["a" * 30, "a" * 15, "a" * 46, "a" * 5], 30) == 0.5
    assert median_length(["aa", "aaaa", "aaaaaa"]) == 4.0
    assert stop_rate([True, True, False, True]) == 0.75   # a cut reply does not count as stopped
    assert distinct_2(["abab"]) == 2 / 3


def test_rouge_l_char():
    assert rouge_l("ごきげんよう", "ごきげんよう") == 1.0
    assert rouge_l("", "x") == 0.0
    assert round(rouge_l("abcd", "abxd"), 3) == 0.75


def test_freeform_probe_file_and_scoring():
    from studio.eval.evaluate import EVAL_DATA
    from studio.eval.freeform import FREEFORM_FILE, dropped, is_correct, read_freeform, score
    items = read_freeform(EVAL_DATA / FREEFORM_FILE)
    assert len(items) >= 40 and {"en", "ja"} == {it.lang for it in items}
    assert len({it.question for it in items}) == len(items) and all(it.answers for it in items)
    assert is_correct("The capital of France is Paris.", ["Paris", "パリ"])
    assert is_correct("フランスの首都はパリですわ。", ["Paris", "パリ"])
    assert is_correct("ＰＡＲＩＳ", ["Paris"])                       # NFKC + case folding
    assert not is_correct("There are 17 of them.", ["7", "seven"])    # an ASCII answer stands alone
    assert is_correct("一週間は7日ですわ。", ["7"])
    assert not is_correct("ごきげんよう、わたくしは存じませんわ。", ["パリ", "Paris"])
    assert score(["Paris", "no"], items[:1] * 2) == 0.5 and score([], []) is None
    assert dropped(1.0, 0.85) == 0.15 and dropped(None, 0.5) is None


def test_collapse_is_seen_when_every_reply_copies_the_system_prompt():
    from studio.eval.report import warnings
    system = "あなたは江戸時代の武士、宮本武蔵でござる。質問には武士らしく答えよ。"
    copied = ["あなたは江戸時代の武士、宮本武蔵でござる。"] * 9 + ["拙者は剣の道を歩むでござる。"]
    assert m.duplicate_share(copied) == 0.9
    assert m.system_overlap(copied, system) == 0.9
    assert m.collapsed(m.duplicate_share(copied), m.system_overlap(copied, system))
    varied = ["わたくしは紅茶が好きですわ。", "ごきげんよう、お元気かしら。", "お庭を散歩いたしましたの。",
              "わたくし、ピアノを弾きますわ。"]
    ojou = "あなたは名家の令嬢、綾乃です。一人称はわたくし、語尾はですわ・ですの。"
    assert m.duplicate_share(varied) == 0.0
    assert m.system_overlap(varied, ojou) == 0.0   # わたくし/ですわ shared with the prompt is style, not copying
    assert not m.collapsed(0.0, 0.0)
    from studio.eval.results import EvalResults
    res = EvalResults(tuned={"duplicate_share": 0.9, "system_overlap": 0.93}, collapse=True)
    assert "0.900" in warnings(res, "en")[0] and "繰り返し" in warnings(res, "ja")[0]
