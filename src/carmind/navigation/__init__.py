"""Navigation: OpenStreetMap maps, Valhalla routing, learned traffic, EV trips, guidance.

The public API is `carmind.navigation.api`; see docs/navigation.md.
"""
