"""Customers' personal data: detect it in a call's words, mask it by policy where text leaves the
store, and purge recordings and transcripts past their retention (docs/privacy.md)."""
