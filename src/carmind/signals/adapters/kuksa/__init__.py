"""The hub over Eclipse KUKSA's `kuksa.val.v1` and `v2` gRPC APIs (stubs from `kuksa-client`)."""
