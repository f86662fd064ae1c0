"""The in-car assistant: offline, multilingual, in context, acting on the car through the hub."""
