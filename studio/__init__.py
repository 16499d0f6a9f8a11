"""Persona Studio: make character chatbots by fine-tuning open LLMs."""

__version__ = "0.1.0"
