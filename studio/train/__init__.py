"""Training: configuration, run directories, the subprocess worker and its callbacks."""
