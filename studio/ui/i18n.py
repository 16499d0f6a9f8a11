"""Japanese and English UI text. The browser's language picks one; English is the fallback."""
from __future__ import annotations

import gradio as gr

EN = {
    "app.title": "Persona Studio",
    "app.intro": "Make a character chatbot: write the persona, check the formatting, train, compare, evaluate.",
    "tab.persona": "1. Persona",
    "persona.pick": "Persona", "persona.new_name": "New persona name", "persona.create": "Create",
    "persona.reload": "Reload from disk", "persona.overwrite": "Overwrite with my version",
    "persona.name": "Character name", "persona.system": "System prompt",
    "persona.notes": "Reference notes (facts about the character)",
    "persona.notes_in_prompt": "Give the notes to the model as context",
    "persona.target": "Target reply length (characters)", "persona.rules": "Style rules",
    "persona.markers": "Style markers (comma-separated)",
    "table.search": "Search", "table.sort": "Sort view by", "table.rows": "Q&A pairs",
    "table.add": "Add row", "table.duplicate": "Duplicate selected", "table.delete": "Delete selected",
    "table.selected": "Selected row",
    "io.file": "Import a file (CSV, TSV, JSONL, JSON, character card PNG)", "io.mode": "Import mode",
    "io.import": "Import", "io.export_csv": "Export CSV", "io.export_jsonl": "Export JSONL",
    "io.download": "Download",
    "tab.format": "2. Format",
    "format.source": "Tokenizer / model (local folder, hub id, or 'default')", "format.template": "Template",
    "format.max_length": "Max length (tokens)", "format.train_on": "Train on",
    "format.remote_code": "Allow the model's own code to run (only for sources you trust)",
    "format.render": "Render and check", "format.status": "Result", "format.row": "Row", "format.text": "Formatted text",
    "format.tokens": "Tokens (green: trained, red: masked; hover for ids)", "format.fix": "Auto-fix",
    "format.apply_fix": "Apply", "format.lengths": "Tokens per example",
    "format.export_jsonl": "Export JSONL (ids + labels)", "format.export_txt": "Export text",
    "status": "Save status", "findings": "Validation", "stats": "Statistics", "hist": "Reply length (characters)",
}
JA = {
    "app.title": "Persona Studio",
    "app.intro": "キャラクターのチャットボットを作る: ペルソナを書き、整形を確かめ、学習し、比べ、評価します。",
    "tab.persona": "1. ペルソナ",
    "persona.pick": "ペルソナ", "persona.new_name": "新しいペルソナの名前", "persona.create": "作成",
    "persona.reload": "ディスクから再読み込み", "persona.overwrite": "自分の版で上書き",
    "persona.name": "キャラクター名", "persona.system": "システムプロンプト",
    "persona.notes": "参考情報(キャラクターの設定)", "persona.notes_in_prompt": "参考情報をモデルに与える",
    "persona.target": "目標の返答の長さ(文字)", "persona.rules": "口調のルール",
    "persona.markers": "口調マーカー(カンマ区切り)",
    "table.search": "検索", "table.sort": "表示の並べ替え", "table.rows": "Q&Aペア",
    "table.add": "行を追加", "table.duplicate": "選択行を複製", "table.delete": "選択行を削除",
    "table.selected": "選択中の行",
    "io.file": "ファイルを取り込む(CSV, TSV, JSONL, JSON, キャラクターカードPNG)", "io.mode": "取り込み方法",
    "io.import": "取り込む", "io.export_csv": "CSVで書き出す", "io.export_jsonl": "JSONLで書き出す",
    "io.download": "ダウンロード",
    "tab.format": "2. 整形",
    "format.source": "トークナイザー / モデル(ローカルフォルダ、Hub ID、または 'default')",
    "format.template": "テンプレート", "format.max_length": "最大長(トークン)", "format.train_on": "学習対象",
    "format.remote_code": "モデル独自のコードの実行を許可(信頼できる配布元のみ)",
    "format.render": "整形して診断", "format.status": "結果", "format.row": "行", "format.text": "整形後のテキスト",
    "format.tokens": "トークン(緑: 学習、赤: マスク。ホバーでID)", "format.fix": "自動修正",
    "format.apply_fix": "適用", "format.lengths": "例ごとのトークン数",
    "format.export_jsonl": "JSONLで書き出す(ID + ラベル)", "format.export_txt": "テキストで書き出す",
    "status": "保存状態", "findings": "検証", "stats": "統計", "hist": "返答の長さ(文字)",
}


def make_i18n() -> gr.I18n:
    return gr.I18n(en=EN, ja=JA)
