"""One running app per user and data folder: a second launch raises the first window and exits.

Which process is the first is decided by a lock file (``QLockFile`` in the data dir: the operating
system's process id check frees the lock of a crashed app, so a stale lock never blocks a start).
The first one also listens on a local socket (a Unix socket or a Windows named pipe, readable by
this user only, named after :func:`isyncsf_desktop.paths.instance_key`); a later launch connects,
sends ``activate`` and exits, and the first one emits :attr:`SingleInstance.activation_requested`.
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QDeadlineTimer, QLockFile, QObject, QThread, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from .. import paths

logger = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
CONNECT_TIMEOUT_MS = 5_000   # how long a second launch waits for the first one to listen


class SingleInstance(QObject):
    """The lock and the local server of the first running app.

    Signals:
        activation_requested(): another launch asked this app to show its window.
    """

    activation_requested = Signal()

    def __init__(self, key: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.key = key or paths.instance_key()
        self._lock = QLockFile(str(paths.data_dir() / f"{self.key}.lock"))
        self._lock.setStaleLockTime(0)   # stale only when its process is gone, never by age
        self._server: QLocalServer | None = None
        self._clients: set[QLocalSocket] = set()

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def acquire(self) -> bool:
        """True when this is the first app (it now listens); False when another one runs."""
        if not self._lock.tryLock(0):
            return False
        QLocalServer.removeServer(self.key)   # a socket file left by a crashed app (Unix)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            logger.info("the single-instance socket %s could not listen (%s); a second launch will not find "
                        "this window", self.key, server.errorString())
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server
        return True

    def notify_primary(self, timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
        """Ask the first app to raise its window; True when it got the message.

        The first app may still be starting (locked, not yet listening), so connecting is retried
        until ``timeout_ms`` has passed.
        """
        _allow_foreground_switch()
        deadline = QDeadlineTimer(timeout_ms)
        while True:
            socket = QLocalSocket()
            socket.connectToServer(self.key)
            if socket.waitForConnected(max(1, min(500, deadline.remainingTime()))):
                socket.write(ACTIVATE)
                sent = socket.waitForBytesWritten(max(1, deadline.remainingTime()))
                socket.disconnectFromServer()
                return sent
            if deadline.hasExpired():
                logger.info("another iSyncSF Desktop holds the lock but does not answer on %s", self.key)
                return False
            QThread.msleep(50)   # the first app is not listening yet; not the GUI of a running app

    def release(self) -> None:
        """Stop listening and free the lock (at exit; the OS frees both if the app dies)."""
        for socket in self._clients:   # quietly: no signal into Python while the socket is torn down
            socket.blockSignals(True)
            socket.abort()
            socket.deleteLater()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            self._clients.add(socket)
            # Bound slots, not lambdas: a lambda holding self and the socket would keep this object alive
            # until the socket's deferred delete, and then delete it from inside its own child's destructor.
            socket.readyRead.connect(self._on_socket_ready_read)
            socket.disconnected.connect(self._on_socket_disconnected)
            if socket.bytesAvailable():
                self._read_messages(socket)

    def _on_socket_disconnected(self) -> None:
        socket = self.sender()
        if socket in self._clients:
            self._clients.discard(socket)
            socket.deleteLater()

    def _on_socket_ready_read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read_messages(socket)

    def _read_messages(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            if bytes(socket.readLine().data()) == ACTIVATE:
                logger.info("another launch asked for the window")
                self.activation_requested.emit()


def _allow_foreground_switch() -> None:
    """On Windows, let the first app bring its window to the front (this launch has the right to)."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes

        ASFW_ANY = -1
        ctypes.windll.user32.AllowSetForegroundWindow(ASFW_ANY)
