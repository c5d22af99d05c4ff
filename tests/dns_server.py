"""A small authoritative DNS server on 127.0.0.1 (UDP and TCP), answering from zone text with dnspython.

Names are absolute (the zone's origin is the root), so one zone holds example.org, its
``_dmarc`` and ``_domainkey`` names and the relay's domain. ``silent=True`` makes a server that
reads queries and never answers, to prove that every lookup has a timeout; ``silent_for`` names
(absolute) are the only ones left unanswered.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

Records = dict[str, list[tuple[str, str]]]  # absolute name -> [(type, rdata text)]


def zone_text(records: Records) -> str:
    return "".join(f"{name} 300 IN {kind} {data}\n" for name, rows in records.items() for kind, data in rows)


def txt(text: str) -> str:
    """A TXT rdata in zone syntax, split into 255-byte strings as DNS requires."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)


class DnsServer:
    """Answers A/AAAA/MX/TXT… from ``records``; NXDOMAIN for names it does not hold."""

    def __init__(self, records: Records, *, silent: bool = False, silent_for: frozenset[str] = frozenset(),
                 port: int = 0) -> None:
        self.zone = dns.zone.from_text(zone_text(records), origin=".", relativize=False, check_origin=False)
        self.silent = silent
        self.silent_for = silent_for
        self.queries: list[tuple[str, str]] = []
        owner = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                answer = owner.answer(data, udp=True)
                if answer is not None:
                    sock.sendto(answer, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                length = int.from_bytes(self._exactly(2), "big")
                answer = owner.answer(self._exactly(length), udp=False)
                if answer is not None:
                    self.request.sendall(len(answer).to_bytes(2, "big") + answer)

            def _exactly(self, n: int) -> bytes:
                data = b""
                while len(data) < n:
                    chunk = self.request.recv(n - len(data))
                    if not chunk:
                        raise ConnectionError("closed")
                    data += chunk
                return data

        for _ in range(50):  # one port for both (truncated answers are asked again over TCP)
            self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", port), Udp)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Tcp)
                break
            except OSError:
                self.udp.server_close()
        else:
            raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                        for s in (self.udp, self.tcp)]

    def answer(self, wire: bytes, *, udp: bool) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
        if self.silent or question.name.to_text() in self.silent_for:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        node = self.zone.get_node(question.name)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
            if rdataset is not None:
                rrset = response.find_rrset(response.answer, question.name, dns.rdataclass.IN, question.rdtype,
                                            create=True)
                rrset.update(rdataset)
        out = response.to_wire()
        limit = max(512, query.payload) if query.edns >= 0 else 512
        if udp and len(out) > limit:
            response.answer.clear()
            response.flags |= dns.flags.TC
            out = response.to_wire()
        return bytes(out)

    def __enter__(self) -> "DnsServer":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)
            assert not thread.is_alive(), "the DNS server thread did not stop"

