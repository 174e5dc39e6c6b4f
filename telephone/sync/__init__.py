"""Phonebook sync: sources yield records, the engine validates and applies them."""
