"""Using a trained character: the chat engine, chat sessions, blind votes, merging and combining adapters."""
