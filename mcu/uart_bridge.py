#!/usr/bin/env python3
"""The host side of the firmware's UART-over-TCP port: plays a modem in
transparent mode on QEMU's UART0 socket.

QEMU connects its UART0 (-chardev socket,...,host=127.0.0.1,port=P) to this
bridge. In command mode the bridge reads lines; AT+CIPSTART="TCP","HOST",PORT
opens a TCP connection to HOST:PORT and answers CONNECT OK (or CONNECT FAIL).
Then bytes pass through both ways unchanged until the firmware sends "+++"
between two guard times of silence (the connection is closed and the bridge
answers OK) or the server closes (back to command mode). One QEMU connection
after another is served, so a second boot reuses the same bridge.

Usage: uart_bridge.py PORT_FILE   (listens on a free 127.0.0.1 port and writes
it to PORT_FILE; runs until killed)
"""
import os
import re
import select
import socket
import sys
import time

GUARD_S = 0.3
CIPSTART = re.compile(rb'AT\+CIPSTART="TCP","([^"]+)",(\d+)')


def log(text):
    print(f"[uart-bridge] {text}", flush=True)


def serve(uart):
    upstream = None
    line = b""
    last_uart = time.monotonic()
    held = b""  # "+" bytes that may be the escape sequence
    while True:
        socks = [uart] + ([upstream] if upstream else [])
        timeout = GUARD_S if held else 1.0
        readable, _, _ = select.select(socks, [], [], timeout)
        now = time.monotonic()
        if not readable:
            if held == b"+++" and upstream:
                log("escape sequence: closing the TCP connection")
                upstream.close()
                upstream = None
                held = b""
                uart.sendall(b"\r\nOK\r\n")
            elif held and upstream:
                upstream.sendall(held)
                held = b""
            continue
        if upstream in readable:
            data = upstream.recv(65536)
            if not data:
                log("the server closed the TCP connection")
                upstream.close()
                upstream = None
                held = b""
            else:
                uart.sendall(data)
        if uart in readable:
            data = uart.recv(65536)
            if not data:
                log("QEMU disconnected")
                if upstream:
                    upstream.close()
                return
            silent_before = now - last_uart >= GUARD_S
            last_uart = now
            if upstream is None:
                line += data
                while b"\n" in line:
                    one, line = line.split(b"\n", 1)
                    m = CIPSTART.search(one)
                    if not m:
                        continue
                    host, port = m.group(1).decode(), int(m.group(2))
                    try:
                        upstream = socket.create_connection((host, port), timeout=10)
                        upstream.settimeout(None)
                        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        log(f"connected to {host}:{port}")
                        uart.sendall(b"CONNECT OK\r\n")
                    except OSError as e:
                        log(f"could not connect to {host}:{port}: {e}")
                        uart.sendall(b"CONNECT FAIL\r\n")
                    line = b""
                    break
                continue
            if (held or silent_before) and set(data) == {ord("+")} and len(held + data) <= 3:
                held += data
                continue
            upstream.sendall(held + data)
            held = b""


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        uart, _ = listener.accept()
        uart.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log("QEMU connected")
        try:
            serve(uart)
        except OSError as e:
            log(f"connection ended: {e}")
        finally:
            uart.close()


if __name__ == "__main__":
    main()
