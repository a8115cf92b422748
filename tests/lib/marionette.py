#!/usr/bin/env python3
"""marionette.py — a small client of Firefox's Marionette protocol (the remote protocol behind
geckodriver), standard library only, for tests/integration/44-firefox.t.

Firefox started with `--marionette` listens on 127.0.0.1:marionette.port (a preference; the
test writes it into the profile's user.js).  The protocol: on connect the server sends a hello
({"applicationType": "gecko", "marionetteProtocol": 3}); every message is `LENGTH:JSON`, a
command is [0, ID, NAME, PARAMS] and its response [1, ID, ERROR, RESULT] (ERROR null on
success, else {"error", "message", "stacktrace"}).

As a program:

  marionette.py PORT page URL TIMEOUT
      connects (retrying until TIMEOUT while Firefox starts), WebDriver:NewSession,
      WebDriver:Navigate to URL, then polls (WebDriver:ExecuteScript, every 0.1 s) until the
      page's document.title is "done", and prints the page's window.result as JSON on stdout.
      Exit status: 0 if the page finished, 1 if it did not within TIMEOUT seconds (what
      window.result holds then is printed all the same), 2 on a connection or protocol error.
  marionette.py PORT eval URL SCRIPT TIMEOUT
      as above, but runs SCRIPT (the body of an async function: WebDriver:ExecuteAsyncScript,
      resolve with arguments[arguments.length - 1](value)) in URL's page and prints the value.
  marionette.py PORT quit
      asks Firefox to quit (Marionette:Quit).
Messages on stderr say what happened (with timestamps relative to the start).
"""
import json
import socket
import sys
import time

T0 = time.monotonic()


def log(*args):
    print('[%7.3f] marionette:' % (time.monotonic() - T0), *args, file=sys.stderr, flush=True)


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, port, host='127.0.0.1'):
        self.host, self.port = host, port
        self.sock = None
        self.buf = b''
        self.next_id = 1
        self.session = None

    # -- transport ---------------------------------------------------------------------
    def connect(self, timeout):
        """Connects, retrying until `timeout` seconds have passed; returns the hello."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                self.sock = socket.create_connection((self.host, self.port), timeout=5)
                self.sock.settimeout(None)
                hello = self._recv(timeout=max(1.0, deadline - time.monotonic()))
                return hello
            except (OSError, MarionetteError) as e:
                last = e
                if self.sock:
                    self.sock.close()
                    self.sock = None
                self.buf = b''
            if time.monotonic() >= deadline:
                raise MarionetteError('cannot connect to Marionette on %s:%d: %s' % (self.host, self.port, last))
            time.sleep(0.1)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            colon = self.buf.find(b':')
            if colon > 0:
                if not self.buf[:colon].isdigit():
                    raise MarionetteError('bad message header %r' % self.buf[:32])
                n = int(self.buf[:colon])
                if len(self.buf) >= colon + 1 + n:
                    body = self.buf[colon + 1:colon + 1 + n]
                    self.buf = self.buf[colon + 1 + n:]
                    return json.loads(body.decode('utf-8'))
            left = deadline - time.monotonic()
            if left <= 0:
                raise MarionetteError('no answer within %.0f s' % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise MarionetteError('no answer within %.0f s' % timeout)
            if not chunk:
                raise MarionetteError('connection closed by Firefox')
            self.buf += chunk

    def command(self, name, params=None, timeout=60):
        msg_id = self.next_id
        self.next_id += 1
        data = json.dumps([0, msg_id, name, params or {}]).encode('utf-8')
        self.sock.sendall(str(len(data)).encode() + b':' + data)
        while True:
            msg = self._recv(timeout)
            if not isinstance(msg, list) or len(msg) != 4 or msg[0] != 1:
                raise MarionetteError('unexpected message %r' % (msg,))
            if msg[1] != msg_id:
                continue        # the answer to an earlier command that timed out
            if msg[2]:
                err = msg[2]
                raise MarionetteError('%s: %s: %s' % (name, err.get('error'), err.get('message')))
            return msg[3]

    # -- WebDriver commands --------------------------------------------------------------
    def new_session(self, capabilities=None):
        r = self.command('WebDriver:NewSession', {'capabilities': capabilities or {}})
        self.session = r.get('sessionId')
        return r

    def delete_session(self):
        if self.session:
            try:
                self.command('WebDriver:DeleteSession', timeout=10)
            finally:
                self.session = None

    def set_timeouts(self, script_ms=None, page_load_ms=None):
        t = {}
        if script_ms is not None:
            t['script'] = script_ms
        if page_load_ms is not None:
            t['pageLoad'] = page_load_ms
        self.command('WebDriver:SetTimeouts', t)

    def navigate(self, url, timeout=60):
        self.command('WebDriver:Navigate', {'url': url}, timeout=timeout)

    def execute_script(self, script, args=None, timeout=60):
        r = self.command('WebDriver:ExecuteScript', {'script': script, 'args': args or []}, timeout=timeout)
        return r.get('value') if isinstance(r, dict) else r

    def execute_async_script(self, script, args=None, timeout=60):
        r = self.command('WebDriver:ExecuteAsyncScript', {'script': script, 'args': args or []},
                         timeout=timeout)
        return r.get('value') if isinstance(r, dict) else r

    def quit(self):
        try:
            r = self.command('Marionette:Quit', {'flags': ['eForceQuit']}, timeout=10)
            log('quit: %s' % json.dumps(r))
        except MarionetteError as e:
            if 'connection closed' not in str(e):   # Firefox may close it before it answers
                raise
        self.session = None


def _session(port, timeout):
    m = Marionette(port)
    hello = m.connect(timeout)
    log('connected: %s' % json.dumps(hello))
    caps = m.new_session()
    c = caps.get('capabilities', {})
    log('session %s: %s %s' % (m.session, c.get('browserName'), c.get('browserVersion')))
    return m


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    port, what = int(argv[1]), argv[2]
    deadline = None
    m = None
    try:
        if what == 'quit':
            m = _session(port, 10)      # Marionette:Quit needs a session
            m.quit()
            return 0
        if what == 'page' and len(argv) == 5:
            url, timeout = argv[3], float(argv[4])
            deadline = time.monotonic() + timeout
            m = _session(port, timeout)
            m.set_timeouts(script_ms=10000, page_load_ms=int(timeout * 1000))
            m.navigate(url, timeout=timeout)
            log('navigated to %s' % url)
            status = 1
            while time.monotonic() < deadline:
                if m.execute_script('return document.title;') == 'done':
                    status = 0
                    break
                time.sleep(0.1)
            if status:
                log('the page did not finish within %.0f s' % timeout)
            result = m.execute_script('return window.result === undefined ? null : window.result;')
            print(json.dumps(result))
            m.delete_session()
            return status
        if what == 'eval' and len(argv) == 6:
            url, script, timeout = argv[3], argv[4], float(argv[5])
            m = _session(port, timeout)
            m.set_timeouts(script_ms=int(timeout * 1000), page_load_ms=int(timeout * 1000))
            m.navigate(url, timeout=timeout)
            value = m.execute_async_script(script, timeout=timeout + 5)
            print(json.dumps(value))
            m.delete_session()
            return 0
        print(__doc__, file=sys.stderr)
        return 2
    except (MarionetteError, OSError, ValueError) as e:
        log('error: %s' % e)
        return 2
    finally:
        if m:
            m.close()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
