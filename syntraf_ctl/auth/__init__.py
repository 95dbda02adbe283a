"""iperf3 authentication: generating the material, scoping it per host, rotating it, and version rules.

See docs/security.md for the threat model and what lives where.
"""
