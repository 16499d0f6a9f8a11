"""Evaluation: probe questions, persona metrics, the knowledge probe, reports."""
