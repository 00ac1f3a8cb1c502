"""Telling people something happened, without telling anyone anything about a survivor."""
