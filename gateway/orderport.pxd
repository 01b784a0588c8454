# Types for orderport.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the order port's listener, and runs uncompiled where no build exists.
# orderport.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
#
# The listener is a subclass of picows' own compiled WSListener, declared from picows' .pxd: picows
# then calls on_ws_frame as C, and the frame's fields are C reads. That binds this module to the
# layout of the picows it was built against, so pyproject.toml pins one version for the build
# and the run alike.

cimport cython
cimport picows.picows as _picows  # (the .py imports the module under the same name, as NumPy's cimport and import do)

from gateway.service cimport Gateway
from gateway.ws cimport Session


cdef class OrderPortListener(_picows.WSListener):
    cdef public Gateway gateway
    cdef public Session session
    cdef public object socket, inbox, partial, loop
    cdef public bint binary, busy

    cpdef on_ws_connected(self, _picows.WSTransport transport)
    @cython.locals(kind=_picows.WSMsgType)
    cpdef on_ws_frame(self, _picows.WSTransport transport, _picows.WSFrame frame)
    cpdef on_ws_disconnected(self, _picows.WSTransport transport)
    cpdef arrived(self, transport, frame, payload, bint last)
