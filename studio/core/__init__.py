"""What every layer shares: errors, storage, the workspace, model loading, findings, integrity checks."""
