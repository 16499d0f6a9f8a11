"""投票から学ぶ: 選好データ、DPO・KTO の実行、選好ビューの日本語。"""
PREFS: dict[str, str] = {
    'err.prefs.no_file': '{path}: 選好ファイルがありません。',
    'err.prefs.bad_json': '{name} の {line} 行目は正しい JSON ではありません。その行を直すか削除してください。',
    'err.prefs.unknown_shape': "{name} の {line} 行目: 'prompt' と 'chosen'・'rejected'(ペア)、または 'prompt'・"
                               "'completion' と true/false の 'label'(評価)が必要です。見つかった項目: {found}。",
    'err.prefs.bad_messages': '{name} の {line} 行目: メッセージは role(system・user・assistant)と文字列の content '
                              'を持つオブジェクトで、prompt はユーザーの発話で終わる必要があります。',
    'err.prefs.parent_unfinished': '実行 {run} は{state}です。選好学習は、アダプターのある完了した実行から始めます。'
                                   '完了した実行を選んでください。',
    'err.prefs.other_base': '実行 {run} は {model} ではなく {base} で学習されています。選好学習は同じベースで親の'
                            'アダプターを学習します。--model は省いてください。',
    'err.prefs.too_few': '使える選好が {n} 件しかありません。選好学習には {need} 件以上必要です。除外: {skipped}。'
                         'チャットタブで投票(ブラインド A/B)を増やすか、大きいファイルを指定してください。',
    'err.prefs.one_label': 'KTO には良い返答と悪い返答の両方が必要ですが、片方しかありません。👎(または 👍)の評価か、'
                           'A/B 投票を加えてください。',
    'cfg.parent_run': '選好学習(dpo・kto)には、開始元の実行が必要です(--from RUN)',
    'cfg.preferences': '選好学習(dpo・kto)には選好ファイルが必要です(--preferences F.jsonl)',
    'cfg.beta': 'beta は 0 より大きくしてください',
    'cfg.loss_type': '{method} の loss_type は次のいずれかにしてください: {choices}',
    'prefs.kto_batch': 'KTO は同じバッチの別の返答と比べるため、バッチサイズを 2 にしました。',
    'prefs.skipped': '学習から除外: {items}',
    'prefs.skipped_one': '{why} {n} 件;',
    'prefs.skip.other_persona': '別のペルソナへの投票',
    'prefs.skip.other_template': '親の実行と別のテンプレートで作られたもの',
    'prefs.skip.same_reply': '選んだ返答と選ばなかった返答が同じもの',
    'prefs.skip.empty_reply': '返答が空のもの',
    'prefs.skip.special_text': '特殊トークンの文字列を含むもの',
    'prefs.skip.not_a_prefix': 'テンプレート上でプロンプトがプロンプト+返答の先頭に一致しないもの',
    'prefs.skip.no_stop': '返答がターン終了トークンで終わらないもの',
    'prefs.skip.too_long': 'max_length を超えるもの',
    'train.method': '学習方法',
    'train.method_sft': 'SFT(ペルソナの表)',
    'train.method_dpo': 'DPO(A/B 投票)',
    'train.method_kto': 'KTO(👍/👎 と投票)',
    'train.parent_run': '開始元の実行',
    'train.parent_hint': '完了した実行。そのアダプターをさらに学習し、固定したコピーを参照モデルにします',
    'train.preferences': '選好ファイル',
    'train.beta': 'beta',
    'train.beta_hint': '親からどれだけ離れてよいか(大きいほど離れない)',
    'train.loss_type': '損失の種類',
}
