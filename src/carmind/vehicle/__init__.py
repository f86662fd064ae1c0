"""The simulated electric car: profiles (data), dynamics, battery, thermal, body, drive cycles."""
