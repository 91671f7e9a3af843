"""Integrations that run inside other programs and report to provmon."""
