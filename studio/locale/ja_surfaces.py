"""他のプログラムが触れる部分の日本語: 実行の参照、サーバー、送信、記録ツール、書き出し、段階。"""
SURFACES: dict[str, str] = {
    'err.eval.no_parent': '実行 {run} は別の実行から始めていません。ベースと比べて評価してください。',
    'eval.against': '比較相手', 'eval.against_base': 'ベースモデル', 'eval.against_parent': '開始元の実行(DPO/KTO)',
    'err.run.outside': '{ref!r} はこのスタジオ({runs_dir})の実行ではありません。一覧から実行を選んでください。',
    'err.run.out_outside': '{out!r} はスタジオのフォルダーの外です。{roots} の中のフォルダーを選ぶか、空欄にして既定の場所にしてください。',
    'err.serve.no_key': '他のマシンから接続できるサーバー({host})には API キーが必要です。キーを設定する(--api-key KEY、またはキー欄)か、127.0.0.1 で公開してください。',
    'err.export.disk_full': 'ディスクがいっぱいで、{folder} に書き出せませんでした。空きを作ってから、もう一度書き出してください。',
    'err.train.tracker_missing': "記録ツール {tracker} がインストールされていません。pip install {package} を実行するか、'auto'(インストールされていれば TensorBoard)か 'none' を選んでください。",
    'cfg.report_to': 'report_to は次のいずれかにしてください: {choices}',
    'train.report_to': '記録ツール(report_to)',
    'train.report_to_hint': 'auto: インストールされていれば TensorBoard(tensorboard --logdir runs/)',
    'err.push.nothing': "実行 {run} にはまだ送れる {what} がありません(先にマージか書き出しをするか、アダプターを送ってください)。",
    'err.push.offline': 'このマシンはオフラインです(または HF_HUB_OFFLINE が設定されています)。Hugging Face Hub へ送るにはネットワークが必要です。',
    'err.push.no_token': 'Hugging Face のトークンがありません。`huggingface-cli login` を実行する(または HF_TOKEN を設定する)と送れます。',
    'err.push.failed': '{repo} への送信に失敗しました: {reason}',
    'train.phase.replay': '学習の前に: ベースモデルがリプレイ用の一般的な質問に答えています {done}/{total}{eta}。停止すると今のまとまりの後で止まります。',
}
