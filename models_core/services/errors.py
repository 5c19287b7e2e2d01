"""The one exception every models_core service raises for a request it refuses."""


class ServiceError(ValueError):
    """A request the service refuses, with a one-line message for the user."""
