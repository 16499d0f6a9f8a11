"""Every import format, and the bad inputs of issue 2."""
import base64
import json
import struct
import zlib

import pytest

from studio.core.errors import StudioError
from studio.data.exporters import export_pairs, pairs_to_csv, pairs_to_messages_jsonl
from studio.data.importers import MAX_IMPORT_BYTES, import_file
from studio.data.persona import Persona, QAPair

TRICKY = [
    QAPair("ごきげんよう、元気？", "ええ、とっても元気ですわ。", "", ""),
    QAPair('comma, and "quotes"', 'She said "ですわ", then left,\nand came back.', "note, with comma", ""),
    QAPair("multi\nline\nquestion", "line one\n\nline three", "", "d1"),
    QAPair("second turn", "二つ目ですの。", "", "d1"),
    QAPair("  leading spaces", "trailing spaces  ", "", ""),
]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def test_csv_utf8_bom_and_aliases(tmp_path):
    p = write(tmp_path, "a.csv", "\ufeffInstruction,Output\nこんにちは,ごきげんよう。\n".encode("utf-8"))
    r = import_file(p)
    assert [(x.question, x.answer) for x in r.pairs] == [("こんにちは", "ごきげんよう。")]


def test_cp932_csv_from_japanese_excel(tmp_path):
    text = "question,answer\r\n好きな食べ物は？,苺のタルトですわ。\r\n"
    r = import_file(write(tmp_path, "excel.csv", text.encode("cp932")))
    assert r.pairs[0].answer == "苺のタルトですわ。"
    assert any("CP932" in str(w) for w in r.warnings)


def test_tsv_prompt_response(tmp_path):
    r = import_file(write(tmp_path, "a.tsv", "prompt\tresponse\tdialog_id\nhi\thello, there\tx\n"))
    assert r.pairs == [QAPair("hi", "hello, there", "", "x")]


@pytest.mark.parametrize("record,expected", [
    ({"question": "q", "answer": "a"}, ("q", "a")),
    ({"instruction": "翻訳して", "input": "cat", "output": "猫ですわ"}, ("翻訳して\n\ncat", "猫ですわ")),
    ({"instruction": "q", "input": "", "output": "a"}, ("q", "a")),
    ({"prompt": "q", "response": "a"}, ("q", "a")),
    ({"input": "q", "output": "a"}, ("q", "a")),
])
def test_jsonl_flat_shapes(tmp_path, record, expected):
    r = import_file(write(tmp_path, "a.jsonl", json.dumps(record, ensure_ascii=False) + "\n"))
    assert (r.pairs[0].question, r.pairs[0].answer) == expected


def test_jsonl_messages_and_sharegpt(tmp_path):
    lines = [
        {"messages": [{"role": "system", "content": "あなたはお嬢様です"}, {"role": "user", "content": "u1"},
                      {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
                      {"role": "assistant", "content": [{"type": "text", "text": "a2"}]}]},
        {"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}]},
    ]
    r = import_file(write(tmp_path, "m.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)))
    assert r.system_prompt == "あなたはお嬢様です"
    assert [(p.question, p.answer, p.dialog_id) for p in r.pairs] == [
        ("u1", "a1", "line1"), ("u2", "a2", "line1"), ("h", "g", "")]


def test_jsonl_broken_line_is_named(tmp_path):
    p = write(tmp_path, "b.jsonl", '{"question": "q", "answer": "a"}\n{"question": "q2", "answer": }\n')
    with pytest.raises(StudioError, match=r"b.jsonl line 2 is not valid JSON"):
        import_file(p)


def card_v2(mes_example="<START>\n{{user}}: 紅茶はお好き？\n{{char}}: ええ、大好きですわ。\n{{user}}: 何が？\n"
                        "{{char}}: ダージリンですの。\n<START>\n{{user}}: ごきげんよう\n"
                        "{{char}}: ごきげんよう、{{user}}さん。"):
    return {"spec": "chara_card_v2", "spec_version": "2.0",
            "data": {"name": "綾乃", "description": "{{char}}は名家のお嬢様。", "personality": "上品",
                     "scenario": "", "first_mes": "ごきげんよう", "mes_example": mes_example,
                     "system_prompt": "", "tags": []}}


def png_with_text(chunks: dict[str, str]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr)
    for key, value in chunks.items():
        body += chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    body += chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_card_v2_png(tmp_path):
    payload = base64.b64encode(json.dumps(card_v2(), ensure_ascii=False).encode()).decode()
    r = import_file(write(tmp_path, "card.png", png_with_text({"chara": payload})))
    assert r.name == "綾乃"
    assert "綾乃は名家のお嬢様" in r.notes and "Personality: 上品" in r.notes
    assert "綾乃" in r.system_prompt
    assert [(p.question, p.answer, p.dialog_id) for p in r.pairs] == [
        ("紅茶はお好き？", "ええ、大好きですわ。", "card1"), ("何が？", "ダージリンですの。", "card1"),
        ("ごきげんよう", "ごきげんよう、Userさん。", "")]


def test_card_v3_json_prefers_its_own_system_prompt(tmp_path):
    card = card_v2()
    card["spec"], card["data"]["system_prompt"] = "chara_card_v3", "{{char}}として話して"
    r = import_file(write(tmp_path, "c.json", json.dumps(card, ensure_ascii=False)))
    assert r.system_prompt == "綾乃として話して" and r.source_format == "chara_card_v3"


def test_png_without_card(tmp_path):
    with pytest.raises(StudioError, match="holds no character card"):
        import_file(write(tmp_path, "plain.png", png_with_text({"Comment": "hello"})))


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    ("question,answer\n", "header but no rows"),
    ("foo,bar\n1,2\n", r"Found columns: 'foo', 'bar'\. Expected 'question' and 'answer'"),
    (b"question,answer\n\xff\xfe\xfa,x\n", r"tried UTF-8 \(fails at byte 16, 0xff\) and Shift_JIS/CP932"),
])
def test_bad_tables(tmp_path, content, message):
    with pytest.raises(StudioError, match=message):
        import_file(write(tmp_path, "bad.csv", content))


def test_oversized_file_is_refused_quickly(tmp_path):
    p = tmp_path / "huge.csv"
    with open(p, "wb") as f:
        f.write(b"question,answer\n")
        f.truncate(MAX_IMPORT_BYTES + 1)
    with pytest.raises(StudioError, match=r"import limit is 20 MB"):
        import_file(p)


def test_round_trip_csv_jsonl_csv(tmp_path):
    persona = Persona(name="t", system_prompt="sys", pairs=[QAPair(**vars(p)) for p in TRICKY])
    persona.pairs[0].context = "参考: 紅茶"
    csv1 = export_pairs(persona, tmp_path / "one.csv")
    back1 = import_file(csv1)
    assert back1.pairs == persona.pairs
    jsonl = export_pairs(Persona(system_prompt="sys", pairs=back1.pairs), tmp_path / "two.jsonl")
    back2 = import_file(jsonl)
    assert back2.pairs == persona.pairs and back2.system_prompt == "sys"
    assert pairs_to_csv(back2.pairs) == pairs_to_csv(persona.pairs)


def test_messages_jsonl_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    p = tmp_path / "m.jsonl"
    p.write_text(pairs_to_messages_jsonl(TRICKY, "sys"), encoding="utf-8")
    ds = datasets.load_dataset("json", data_files=str(p), split="train")
    assert len(ds) == 4  # d1's two rows are one conversation
    assert ds[2]["messages"][1] == {"role": "user", "content": "multi\nline\nquestion"}


def test_probe_files_are_read_by_the_importers_in_every_format(tmp_path):
    """A probe file is not a second importer: CSV without an answer column, a JSON list, JSONL with references,
    ShareGPT messages and plain text all give the same questions."""
    from studio.eval.prompts import read_prompts

    files = {
        "p.csv": "質問\nごきげんよう。\n好きな色は？\n",
        "p.json": json.dumps([{"prompt": "ごきげんよう。"}, {"prompt": "好きな色は？", "answer": "青ですわ"}],
                             ensure_ascii=False),
        "p.jsonl": '{"instruction": "ごきげんよう。"}\n{"instruction": "好きな色は？", "output": "青ですわ"}\n',
        "m.jsonl": "".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                    {"role": "assistant", "content": "x"}]}, ensure_ascii=False) + "\n"
                           for q in ("ごきげんよう。", "好きな色は？")),
        "p.txt": "ごきげんよう。\n\n好きな色は？\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert [p.question for p in read_prompts(tmp_path / name)] == ["ごきげんよう。", "好きな色は？"], name
    assert read_prompts(tmp_path / "p.json")[1].reference == "青ですわ"
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(StudioError) as e:
        read_prompts(tmp_path / "bad.csv")
    assert "bad.csv" in str(e.value)


@pytest.mark.parametrize("suffix", [".json", ".png"])
def test_character_card_export_round_trips_through_our_importer(tmp_path, suffix):
    """Card V2 out, card in: name, system prompt, notes and the example pairs (dialogs kept together) survive."""
    from studio.data.card_export import write_card
    persona = Persona(name="桜小路綾乃", system_prompt="あなたはお嬢様です。", notes="紅茶が好き。\n\"引用\" も。",
                      pairs=[QAPair("ごきげんよう。", "ごきげんよう、ですわ。"),
                             QAPair("好きな色は？", "青ですの。", dialog_id="d1"),
                             QAPair("なぜ？", "海の色ですもの。", dialog_id="d1"), QAPair("q4", "a4")])
    out = write_card(persona, tmp_path / f"ayano{suffix}", examples=3)
    back = import_file(out)
    assert back.source_format == "chara_card_v2" and back.name == persona.name
    assert back.system_prompt == persona.system_prompt and back.notes == persona.notes
    assert [(p.question, p.answer) for p in back.pairs] == [(p.question, p.answer) for p in persona.pairs[:3]]
    assert back.pairs[1].dialog_id == back.pairs[2].dialog_id != "" and back.pairs[0].dialog_id == ""
    if suffix == ".json":
        card = json.loads(out.read_text(encoding="utf-8"))
        assert card["spec"] == "chara_card_v2" and card["data"]["first_mes"] == "ごきげんよう、ですわ。"
    with pytest.raises(StudioError, match=r"\.json or \.png"):
        write_card(persona, tmp_path / "ayano.txt")


def test_importing_the_same_file_twice_adds_its_rows_once_and_says_so(tmp_path):
    """Issue 37: appending the same file again doubled the table without a word."""
    from studio.data import persona_session as ps
    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    save_persona(Persona(name="t", pairs=[QAPair("既にある", "ですわ")]), tmp_path / "p")
    csv = tmp_path / "more.csv"
    csv.write_text("question,answer\n既にある,ですわ\n新しい,ですの\n新しい,ですの\n", encoding="utf-8")
    s = ps.open_session(tmp_path / "p")
    s = ps.import_into(s, str(csv), "append")
    assert [p.question for p in s.persona.pairs] == ["既にある", "新しい", "新しい"]   # the file's own repeat stays
    assert "1 rows were already in the table" in s.status.render("en")
    s = ps.import_into(s, str(csv), "append")
    assert len(s.persona.pairs) == 3 and "3 行は表にまったく同じ行があった" in s.status.render("ja")


def test_row_numbers_as_people_write_them():
    """Issue 37: deleting 40 rows one at a time took 135 s; several rows go at once by their numbers."""
    from studio.data.table_view import parse_rows
    assert parse_rows("3-7, 12", 20) == [3, 4, 5, 6, 7, 12]
    assert parse_rows("3〜5、5 1", 20) == [1, 3, 4, 5]
    assert parse_rows("3-25", 20) is None and parse_rows("x", 20) is None and parse_rows("", 20) is None
    assert parse_rows("7-3", 20) is None and parse_rows("0", 20) is None
