"""Beacon gateway: server, websocket and admin APIs, broker adapters, journal wiring."""

try:  # the compiled modules read the API's structs where gateway/structs.pxd says: check
    from .structs import verify as _verify_struct_layouts
except ImportError:  # nothing built: the Python source reads fields by name
    pass
else:
    _verify_struct_layouts()
