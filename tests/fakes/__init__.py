"""Offline stand-ins for external services, spoken to over real HTTP by the real clients."""
