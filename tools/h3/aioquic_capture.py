#!/usr/bin/env python3
"""Prints the bytes aioquic's HTTP/3 layer writes on each stream, and reads another
implementation's stream bytes into it. Source of the aioquic vectors in
Tests/QuicHTTP3Tests/ConnectionTests.swift and QPACKTests.swift.

    pip install aioquic            # 1.7.2 and pylsqpack 1.0.0 were used
    python3 tools/h3/aioquic_capture.py                    # aioquic client ⇄ aioquic server
    python3 tools/h3/aioquic_capture.py read < lines.txt   # feed "who sid fin|nofin hex" lines

Lines on stdin whose `who` is "client" go to an aioquic server, "server" lines to an aioquic
client (which first sends a GET on stream 0); every event and any connection close is printed.
No QUIC transport is involved: H3Connection runs over a stub that records send_stream_data.
"""
import collections
import sys

from aioquic.h3.connection import H3Connection
from aioquic.quic.events import StreamDataReceived


class StubQuic:
    def __init__(self, is_client):
        self.configuration = type("Configuration", (), {"is_client": is_client})()
        self._quic_logger = None
        self.sent = collections.OrderedDict()
        self.fin = {}
        self.next_uni = 2 if is_client else 3
        self.next_bidi = 0 if is_client else 1
        self.closed = None

    def get_next_available_stream_id(self, is_unidirectional=False):
        if is_unidirectional:
            value, self.next_uni = self.next_uni, self.next_uni + 4
        else:
            value, self.next_bidi = self.next_bidi, self.next_bidi + 4
        return value

    def send_stream_data(self, stream_id, data, end_stream=False):
        self.sent.setdefault(stream_id, bytearray()).extend(data)
        if end_stream:
            self.fin[stream_id] = True

    def close(self, error_code=0, reason_phrase="", **_):
        self.closed = (hex(error_code), reason_phrase)


def dump(who, quic):
    for stream, data in quic.sent.items():
        print(who, stream, "fin" if quic.fin.get(stream) else "nofin", data.hex())


def self_exchange():
    client_quic, server_quic = StubQuic(True), StubQuic(False)
    client, server = H3Connection(client_quic), H3Connection(server_quic)
    stream = client_quic.get_next_available_stream_id()
    client.send_headers(stream, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"localhost:4433"),
                                 (b":path", b"/index.html"), (b"user-agent", b"aioquic/1.7.2")], end_stream=True)
    dump("client", client_quic)
    for stream_id, data in client_quic.sent.items():
        for event in server.handle_event(StreamDataReceived(bytes(data), client_quic.fin.get(stream_id, False), stream_id)):
            print("  server event", event)
    server.send_headers(stream, [(b":status", b"200"), (b"server", b"aioquic/1.7.2"), (b"content-type", b"text/html"),
                                 (b"content-length", b"5")])
    server.send_data(stream, b"hello", end_stream=True)
    dump("server", server_quic)


def read_lines(lines):
    server_quic, client_quic = StubQuic(False), StubQuic(True)
    server, client = H3Connection(server_quic), H3Connection(client_quic)
    client.send_headers(0, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"x"), (b":path", b"/")],
                        end_stream=True)
    for who, stream, fin, data in (line.split() for line in lines if line.strip()):
        connection = server if who == "client" else client
        events = connection.handle_event(StreamDataReceived(bytes.fromhex(data), fin == "fin", int(stream)))
        print(f"aioquic {'server' if who == 'client' else 'client'} read {who} stream {stream}: {events}")
    print("aioquic server closed the connection:", server_quic.closed, "settings:", server.received_settings)
    print("aioquic client closed the connection:", client_quic.closed, "settings:", client.received_settings)
    dump("server", server_quic)


if __name__ == "__main__":
    if sys.argv[1:] == ["read"]:
        read_lines(sys.stdin.read().splitlines())
    else:
        self_exchange()
