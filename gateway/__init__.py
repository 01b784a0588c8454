"""Beacon gateway: server, websocket and admin APIs, broker adapters, journal wiring."""
