"""The small core every domain package shares: settings, privacy, clock, identifiers
and the messaging contract between the domain and the chat side.

It imports nothing of gridcast but :mod:`models`.
"""
