"""The local lab: systemd-nspawn hosts on an isolated bridge and a VictoriaMetrics database (root, Linux)."""
