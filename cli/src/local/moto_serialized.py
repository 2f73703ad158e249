# moto server with its requests handled one at a time (moto_server's own options, e.g.
# `-H 127.0.0.1 -p 3003`).
#
# moto's DynamoDB TransactWriteItems is not isolated: it checks the conditions, then
# writes, and rolls a failed transaction back by restoring a copy of the whole table made
# when it started, which erases what a concurrent request wrote meanwhile. DynamoDB's
# transactions are serializable. Holding one lock around each request makes moto's the same
# (connections stay concurrent and keep-alive; only the handling is serialized).
import sys
import threading

import moto.server as server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialized(app):
    def handle(environ, start_response):
        with _lock:
            return list(app(environ, start_response))

    return handle


def _run(host, port, app, **options):
    _run_simple(host, port, _serialized(app), **options)


server.run_simple = _run
server.main(sys.argv[1:])
