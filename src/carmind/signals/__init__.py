"""The vehicle signal hub: the VSS catalog, the broker, access control and adapters."""
