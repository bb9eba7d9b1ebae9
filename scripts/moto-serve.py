#!/usr/bin/env python3
"""moto on a loopback port that this process binds itself and holds from the start.

Prints the port on the first line of stdout once the socket listens, then serves. Picking a free
port, releasing it and starting `moto_server` on it is a race: another test's server (or the
kernel's TCP self-connect) can take or answer on it before moto binds. Here the kernel assigns the
port to the socket moto serves on, so whatever answers on it is this moto.

  moto-serve.py [--exit-with-stdin]   # with it: exit when stdin closes (the test process died)
"""
import os
import signal
import sys
import threading

from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    # moto builds queue URLs and callbacks from MOTO_PORT at request time.
    os.environ["MOTO_PORT"] = str(port)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if "--exit-with-stdin" in sys.argv[1:]:
        def watch() -> None:
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
