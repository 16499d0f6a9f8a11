"""English text for the surfaces other programs reach: run references, the server, pushing, trackers, export, phases."""
SURFACES: dict[str, str] = {
    'err.eval.no_parent': 'Run {run} did not start from another run: evaluate it against the base.',
    'eval.against': 'Compare with', 'eval.against_base': 'the base model', 'eval.against_parent': 'the run it started from (DPO/KTO)',
    'err.run.outside': '{ref!r} is not a run of this studio ({runs_dir}). Pick a run from the list.',
    'err.run.out_outside': '{out!r} is outside the studio\'s folders; choose a folder inside {roots}, or leave it empty for the default.',
    'err.serve.no_key': 'A server reachable from other machines ({host}) needs an API key: set one (--api-key KEY, or the key box), or serve on 127.0.0.1.',
    'err.export.disk_full': 'The disk is full: the export could not be written to {folder}. Free some space and export again.',
    'err.train.tracker_missing': "The tracker {tracker} is not installed: pip install {package}, or choose 'auto' (TensorBoard when installed) or 'none'.",
    'cfg.report_to': 'report_to must be one of: {choices}',
    'train.report_to': 'Tracker (report_to)',
    'train.report_to_hint': 'auto: TensorBoard when installed (tensorboard --logdir runs/)',
    'err.push.nothing': "Run {run} has no {what} to push yet (merge or export it first, or push the adapter).",
    'err.push.offline': 'This machine is offline (or HF_HUB_OFFLINE is set): pushing to the Hugging Face Hub needs the network.',
    'err.push.no_token': 'No Hugging Face token: run `huggingface-cli login` (or set HF_TOKEN), then push again.',
    'err.push.failed': 'Pushing to {repo} failed: {reason}',
    'train.phase.replay': 'Before training: the base model answers general prompts for replay, {done}/{total}{eta}. Stop ends it after the current batch.',
}
