"""FIX 4.4: the tag=value codec, the session layer (initiator and acceptor), the mapping of
Beacon's broker messages, and the gateway's FIX broker transport."""

from ._codec import FixError, FixMessage, FixParser, encode

__all__ = ["FixError", "FixMessage", "FixParser", "encode"]
