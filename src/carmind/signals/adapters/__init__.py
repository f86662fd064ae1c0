"""Adapters that carry the hub's signals over the wire: the KUKSA gRPC APIs and the CAN bus."""
