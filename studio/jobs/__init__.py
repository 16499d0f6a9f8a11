"""Long tasks (merge, combine, evaluate; training has its own run folders) as child processes that write files the
UI and the CLI only read: status.json, progress.jsonl, log.txt, result.json. One GPU job at a time."""
