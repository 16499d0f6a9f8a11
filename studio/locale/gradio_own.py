"""Texts of gradio's own widgets that its Japanese dictionary lacks (they showed in English) or that must say what
to do in this app. Keyed as gradio names them; given to gr.I18n with the studio's texts, which take precedence
over gradio's built-in ones in the browser."""

GRADIO_OWN: dict[str, dict[str, str]] = {
    "en": {
        "dataframe.import_static_columns": "Files are not imported by dropping them on the table: put the file in "
                                           "'Import a file' below and press Import.",
        "dataframe.drop_to_upload": "To import a file, put it in 'Import a file' below the table",
    },
    "ja": {
        "dataframe.import_static_columns": "表へのドロップでは取り込めません。表の下の「ファイルを取り込む」にファイルを"
                                           "置いて「取り込む」を押してください。",
        "dataframe.drop_to_upload": "ファイルを取り込むには、表の下の「ファイルを取り込む」に置いてください",
        "dataframe.import_empty_file": "ドロップしたファイルは空です。",
        "dataframe.import_no_column_names": "ドロップしたファイルに列名がありません。",
        "dataframe.import_ragged_row": "ファイルの {line} 行目は {fields} 列で、見出しは {columns} 列です。",
        "dataframe.import_fixed_columns": "この表はちょうど {expected} 列です(ファイルは {actual} 列)。",
        "dataframe.import_fixed_rows": "この表はちょうど {expected} 行です(ファイルは {actual} 行)。",
    },
}
