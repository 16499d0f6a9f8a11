"""The persona and its data: model, store, editing session, importers, exporters, cards, validation, table view,
statistics, conversations. No torch, no gradio."""
