"""The rule evaluator's systemd unit: vmalert (Debian's `victoria-metrics` package) evaluating the pack's
rule files against the database, writing recorded series and alert states back to it."""

from __future__ import annotations

from syntraf_ctl.model import Database

VMALERT = "/usr/bin/vmalert"
CONFIG_DIR = "/etc/syntraf-alerting"
RULES_DIR = f"{CONFIG_DIR}/rules"
NOTIFIER_FILE = f"{CONFIG_DIR}/notifier.yml"  # the role writes it: the Alertmanagers, none by default
LISTEN = "127.0.0.1:8880"  # vmalert's API and UI, on the host only
UNIT = "syntraf-vmalert.service"
_CLIENTS = ("datasource", "remoteWrite", "remoteRead")  # vmalert's connections to the database

# The token reaches vmalert as a systemd credential: root reads the 0600 file, the dynamic user gets a copy
# only its service sees; no token on the command line.
SANDBOX = """\
DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
UMask=0077
"""


def token_path(database: Database) -> str:
    return f"{CONFIG_DIR}/secrets/{database.name}.token"


def vmalert_unit(database: Database) -> str:
    """The unit: the database answers the rules' queries (PromQL: VictoriaMetrics or Prometheus) and
    receives what they produce; vmalert restores pending alerts from it after a restart."""
    tls = []
    for client in _CLIENTS:
        tls += [f"-{client}.tlsCAFile={database.ca_path}"] if database.ca_path else []
        tls += [] if database.verify_tls else [f"-{client}.tlsInsecureSkipVerify"]
    flags = [
        f"-rule={RULES_DIR}/*.yml",
        f"-datasource.url={database.url}",
        f"-remoteWrite.url={database.url}",
        f"-remoteRead.url={database.url}",
        *(f"-{client}.bearerTokenFile=${{CREDENTIALS_DIRECTORY}}/token" for client in _CLIENTS),
        *tls,
        f"-notifier.config={NOTIFIER_FILE}",
        f"-httpListenAddr={LISTEN}",
        "-loggerLevel=WARN",
    ]
    command = " \\\n    ".join([VMALERT, *flags])
    return (
        "# Rendered by syntraf-ctl; do not edit on the host.\n"
        "[Unit]\n"
        "Description=vmalert evaluating syntraf's alert and recording rules\n"
        "Documentation=https://docs.victoriametrics.com/vmalert/\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "StartLimitIntervalSec=0\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"LoadCredential=token:{token_path(database)}\n"
        f"ExecStart={command}\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=always\n"
        "RestartSec=5\n"
        f"{SANDBOX}\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
