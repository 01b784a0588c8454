"""Simulated A-share market and broker."""
