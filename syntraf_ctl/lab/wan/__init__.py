"""The WAN lab: sites behind routers, and a delay line between them (see docs/lab.md)."""
