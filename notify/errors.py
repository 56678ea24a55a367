"""How a send can go wrong; every text here is free of secrets, so it may be stored and logged."""


class DeliveryError(Exception):
    """A send that did not go through; it is retried after a backoff."""


class DeliveryUncertain(DeliveryError):
    """A send that may or may not have arrived (the peer took it, then the answer timed out)."""
