"""The one exception the lab raises for a failure the user can act on (its message says what to do)."""


class LabError(RuntimeError):
    pass


class SubnetInUse(LabError):
    """Another interface (another lab, a test network) already has an address in the lab's subnet."""
