"""Adapters that carry the hub's signals over the wire: KUKSA gRPC, CAN and MQTT."""
