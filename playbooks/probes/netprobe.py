"""Traffic probes that run ON a lab host (sent as ``python3 -c``) or in a probe netns.

Standard library only: the hosts have python3 but nothing else we can rely on.
Every subcommand prints one JSON document on stdout.

  reach TIMEOUT SPEC...       SPEC is tcp:ADDR:PORT, udp53:ADDR or icmp:ADDR; probed in
                              parallel.  Result per spec: open | refused | timeout | error.
                              ("refused" means a host answered: the path is open.)
  spoof SRC DST PORT TEXT     one UDP datagram with a forged IPv4 source (raw socket).
  listen PORT SECONDS [STOP]  collect UDP payloads arriving on PORT for SECONDS (or until
                              the payload STOP arrived, plus 0.3 s).
  dhcp IFACE TIMEOUT          DISCOVER/OFFER/REQUEST/ACK on IFACE (broadcast flag set,
                              so no address is needed); prints the lease (kept, not released).
  scan TIMEOUT OWN ADDR...    every ADDR on the TCP_PORTS and UDP_PORTS below and ICMP echo,
                              all at once from one thread (non-blocking sockets).  UDP
                              probes carry a request of the port's protocol where a server
                              would answer (DNS, NTP, SNMP, DHCP INFORM from OWN, ...);
                              "refused" is an ICMP port-unreachable: the host answered.
                              Run only in a probe netns: it binds UDP port 68.
"""

import errno
import json
import os
import random
import resource
import select
import socket
import struct
import sys
import threading
import time


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def _tcp(addr, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, int(port)))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except OSError as e:
        # EHOSTUNREACH/ENETUNREACH come from an ICMP error or a missing route: nothing answered us.
        return "timeout" if e.errno in (113, 101) else f"error:{e.strerror}"
    finally:
        s.close()


def _icmp(addr, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = random.randrange(1, 0xFFFF)
    payload = b"hubkit-probe"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    pkt = struct.pack("!BBHHH", 8, 0, _csum(hdr + payload), ident, 1) + payload
    try:
        s.sendto(pkt, (addr, 0))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                return "timeout"
            data, src = s.recvfrom(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and src[0] == addr:
                return "open"
    except OSError as e:
        return f"error:{e.strerror}"
    finally:
        s.close()


def _dns_query(name: str) -> bytes:
    qid = random.randrange(0, 0xFFFF)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def _udp53(addr, timeout):
    """A DNS query: 'open' when anything answers (even NXDOMAIN)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        # Connected, so the socket is a client (ESTAB), never an unconnected one that
        # the listener check running alongside on this host would take for a server;
        # an ICMP port-unreachable also comes back as "refused" instead of a timeout.
        s.connect((addr, 53))
        s.send(_dns_query("hubkit-probe.invalid"))
        s.recv(2048)
        return "open"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"error:{e.strerror}"
    finally:
        s.close()


def reach(timeout, *specs):
    out = {}

    def one(spec):
        kind, _, rest = spec.partition(":")
        if kind == "tcp":
            addr, _, port = rest.rpartition(":")
            out[spec] = _tcp(addr, port, timeout)
        elif kind == "icmp":
            out[spec] = _icmp(rest, timeout)
        elif kind == "udp53":
            out[spec] = _udp53(rest, timeout)
        else:
            out[spec] = "error:unknown probe"

    threads = [threading.Thread(target=one, args=(s,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def spoof(src, dst, port, text):
    """Send one UDP datagram from a forged source address."""
    data = text.encode()
    sport = random.randrange(40000, 60000)
    udp_len = 8 + len(data)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, int(port), udp_len, 0) + data
    udp = struct.pack("!HHHH", sport, int(port), udp_len, _csum(pseudo + udp) or 0xFFFF) + data
    total = 20 + udp_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, random.randrange(0, 0xFFFF), 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(ip + udp, (dst, 0))
    finally:
        s.close()
    return {"sent": True, "src": src, "dst": dst, "port": int(port)}


def listen(port, seconds, stop_text=None):
    """Collect datagrams on PORT for SECONDS, or until STOP_TEXT arrived plus a short grace."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    got = []
    end = time.monotonic() + float(seconds)
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        data, src = s.recvfrom(2048)
        text = data.decode(errors="replace")
        got.append({"from": src[0], "text": text})
        if stop_text and text == stop_text:
            end = min(end, time.monotonic() + 0.3)
    s.close()
    return {"received": got}


def _dhcp_packet(mac: bytes, xid: int, kind: int, extra: bytes = b"") -> bytes:
    pkt = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                      b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, mac.ljust(16, b"\0"), b"", b"")
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + extra
    opts += bytes([55, 4, 1, 3, 6, 51]) + b"\xff"
    return pkt + opts


def _dhcp_parse(data: bytes):
    if len(data) < 240 or data[236:240] != b"\x63\x82\x53\x63":
        return None
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = socket.inet_ntoa(data[16:20])
    opts, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, ln = data[i], data[i + 1]
        opts[code] = data[i + 2:i + 2 + ln]
        i += 2 + ln
    return xid, yiaddr, opts


def dhcp(iface, timeout):
    timeout = float(timeout)
    mac = bytes.fromhex(open(f"/sys/class/net/{iface}/address").read().strip().replace(":", ""))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.bind(("0.0.0.0", 68))
    xid = random.randrange(1, 0xFFFFFFFF)
    end = time.monotonic() + timeout

    # A veth that was just plugged in may drop the first frame: wait for the link to be up.
    for _ in range(50):
        if open(f"/sys/class/net/{iface}/operstate").read().strip() in ("up", "unknown"):
            break
        time.sleep(0.02)

    def exchange(xid, kind, extra, want, every):
        # dnsmasq pings an address (~3 s) before it offers it; a resent DISCOVER is harmless.
        s.sendto(_dhcp_packet(mac, xid, kind, extra), ("255.255.255.255", 67))
        resend = time.monotonic() + every
        while True:
            now = time.monotonic()
            if now >= end:
                return None
            if now >= resend:
                s.sendto(_dhcp_packet(mac, xid, kind, extra), ("255.255.255.255", 67))
                resend = now + every
            if not select.select([s], [], [], min(end, resend) - now)[0]:
                continue
            got = _dhcp_parse(s.recvfrom(2048)[0])
            if got and got[0] == xid and got[2].get(53) in [bytes([w]) for w in want]:
                return got

    # Two clients on one segment can be offered the same address (dnsmasq derives it from the
    # MAC, and an offer reserves nothing): the later REQUEST gets a NAK, and, as RFC 2131 says,
    # the client starts again with a new DISCOVER.
    while True:
        offer = exchange(xid, 1, b"", (2,), 1.0)
        if offer is None:
            return {"ok": False, "stage": "offer"}
        _, yiaddr, opts = offer
        server = opts.get(54, b"\0\0\0\0")
        req = bytes([50, 4]) + socket.inet_aton(yiaddr) + bytes([54, 4]) + server
        ack = exchange(xid, 3, req, (5, 6), 2.0)
        if ack is None:
            return {"ok": False, "stage": "ack", "offered": yiaddr}
        if ack[2].get(53) == bytes([5]):
            break
        xid = random.randrange(1, 0xFFFFFFFF)  # NAK
    _, yiaddr, opts = ack

    def ips(code):
        raw = opts.get(code, b"")
        return [socket.inet_ntoa(raw[i:i + 4]) for i in range(0, len(raw) - 3, 4)]

    mask = opts.get(1)
    # The lease is kept on purpose (the caller uses a fixed MAC): the next probe gets it back
    # without dnsmasq's ping check.
    s.close()
    return {"ok": True, "address": yiaddr, "netmask": socket.inet_ntoa(mask) if mask else None,
            "router": ips(3), "dns": ips(6), "server": socket.inet_ntoa(server)}


# The scan's "common ports": remote access, file and print sharing, mail, web and
# proxies, databases, directory and management services.
TCP_PORTS = (21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 389, 443, 445, 514, 515, 631, 873, 993,
             995, 1723, 2049, 3128, 3306, 3389, 5432, 5900, 6379, 8000, 8080, 8443, 9090, 9100)
UDP_PORTS = (53, 67, 69, 123, 137, 161, 500, 514, 1900, 4500, 5353, 11211, 51820)


def _ntp_request() -> bytes:
    return bytes([0x23]) + b"\0" * 47  # LI 0, version 4, mode 3 (client)


def _snmp_get() -> bytes:
    # GetRequest, community "public", sysDescr.0: any SNMP agent answers (or reports an error).
    oid = bytes.fromhex("06082b06010201010100")
    varbind = bytes([0x30, len(oid) + 2]) + oid + b"\x05\x00"
    varbinds = bytes([0x30, len(varbind)]) + varbind
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + varbinds
    pdu = bytes([0xA0, len(pdu)]) + pdu
    body = b"\x02\x01\x00\x04\x06public" + pdu
    return bytes([0x30, len(body)]) + body


def _udp_payload(port: int) -> bytes:
    if port in (53, 5353):
        return _dns_query("hubkit-probe.invalid")
    if port == 123:
        return _ntp_request()
    if port == 161:
        return _snmp_get()
    if port == 137:  # NetBIOS name query for "*"
        return (struct.pack("!HHHHHH", random.randrange(0, 0xFFFF), 0, 1, 0, 0, 0)
                + b"\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00\x00\x21\x00\x01")
    return b"hubkit-probe\n"


def scan(timeout, own, *addrs):
    """Every address on TCP_PORTS, UDP_PORTS and ICMP echo, in one non-blocking round."""
    timeout = float(timeout)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(addrs) * (len(TCP_PORTS) + len(UDP_PORTS)) + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    out, pending = {}, {}  # spec -> result; fd -> (spec, socket, kind)
    for addr in addrs:
        for port in TCP_PORTS:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((addr, port))
            pending[s.fileno()] = (f"tcp:{addr}:{port}", s, "tcp")
            if rc not in (0, errno.EINPROGRESS):
                out[f"tcp:{addr}:{port}"] = "refused" if rc == errno.ECONNREFUSED else "timeout"
        for port in UDP_PORTS:
            if port == 67:
                continue  # below: DHCP answers go to port 68, not to the asking socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.connect((addr, port))
            try:
                s.send(_udp_payload(port))
            except OSError:
                pass
            pending[s.fileno()] = (f"udp:{addr}:{port}", s, "udp")
    # DHCP: an INFORM from our address to each address's port 67, answers on our port 68.
    dhcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dhcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    dhcp.bind(("0.0.0.0", 68))
    dhcp.setblocking(False)
    mac = random.randbytes(6)
    xids = {}
    for addr in addrs:
        xid = random.randrange(1, 0xFFFFFFFF)
        xids[xid] = f"udp:{addr}:67"
        pkt = bytearray(_dhcp_packet(mac, xid, 8))  # DHCPINFORM
        pkt[10:12] = b"\0\0"                       # unicast answer
        pkt[12:16] = socket.inet_aton(own)          # ciaddr
        try:
            dhcp.sendto(bytes(pkt), (addr, 67))
        except OSError:
            pass
    # ICMP echo to every address on one raw socket.
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp.setblocking(False)
    ident = random.randrange(1, 0xFFFF)
    for seq, addr in enumerate(addrs, 1):
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        icmp.sendto(struct.pack("!BBHHH", 8, 0, _csum(hdr + b"hubkit-scan"), ident, seq) + b"hubkit-scan", (addr, 0))
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        live = [fd for fd, (spec, _s, _k) in pending.items() if spec not in out]
        rd = [fd for fd in live if pending[fd][2] == "udp"] + [dhcp.fileno(), icmp.fileno()]
        wr = [fd for fd in live if pending[fd][2] == "tcp"]
        r, w, _ = select.select(rd, wr, [], min(left, 0.2))
        for fd in w:
            spec, s, _k = pending[fd]
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            out[spec] = "open" if err == 0 else "refused" if err == errno.ECONNREFUSED else "timeout"
        for fd in r:
            if fd == dhcp.fileno():
                got = _dhcp_parse(dhcp.recvfrom(2048)[0])
                if got and got[0] in xids:
                    out[xids[got[0]]] = "open"
                continue
            if fd == icmp.fileno():
                data, src = icmp.recvfrom(2048)
                ihl = (data[0] & 0x0F) * 4
                typ, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if typ == 0 and rid == ident and 1 <= seq <= len(addrs) and src[0] == addrs[seq - 1]:
                    out[f"icmp:{src[0]}"] = "open"
                continue
            spec, s, _k = pending[fd]
            try:
                s.recv(2048)
                out[spec] = "open"
            except ConnectionRefusedError:
                out[spec] = "refused"
            except OSError:
                pass
    for spec, s, _k in pending.values():
        out.setdefault(spec, "timeout")
        s.close()
    for spec in xids.values():
        out.setdefault(spec, "timeout")
    for addr in addrs:
        out.setdefault(f"icmp:{addr}", "timeout")
    dhcp.close()
    icmp.close()
    return out


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "reach":
        res = reach(float(args[0]), *args[1:])
    elif cmd == "spoof":
        res = spoof(*args)
    elif cmd == "listen":
        res = listen(*args)
    elif cmd == "dhcp":
        res = dhcp(*args)
    elif cmd == "scan":
        res = scan(*args)
    else:
        raise SystemExit(f"unknown probe {cmd}")
    print(json.dumps(res, sort_keys=True), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main(sys.argv[1:])
