#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_starttls.c into tests/fuzz/corpus/starttls/.

Each seed is one scripted session in the target's format: byte 0 picks the protocol
(1 + byte % 5: SMTP, IMAP, POP3, PostgreSQL, MySQL, so 0..4 here), then records of
[header][payload], header bit 7 set for client bytes, the low 7 bits the length (127: the next
two bytes, little-endian). The sessions are the ones tests/unit/test_starttls.c checks.

Run from the repository root: python3 tests/fuzz/starttls_seeds.py
"""
import os
import struct

SMTP, IMAP, POP3, PG, MYSQL = range(5)
OUT = os.path.join("tests", "fuzz", "corpus", "starttls")


FEED_MAX = 2048  # ST_FEED_MAX: the target caps a record there


def rec(from_client, payload):
    hdr = 0x80 if from_client else 0
    if len(payload) > FEED_MAX:
        return rec(from_client, payload[:FEED_MAX]) + rec(from_client, payload[FEED_MAX:])
    if len(payload) < 0x7F:
        return bytes([hdr | len(payload)]) + payload
    return bytes([hdr | 0x7F]) + struct.pack("<H", len(payload)) + payload


def S(b):
    return (0, b if isinstance(b, bytes) else b.encode())


def C(b):
    return (1, b if isinstance(b, bytes) else b.encode())


def session(proto, steps):
    return bytes([proto]) + b"".join(rec(f, p) for f, p in steps)


SMTP_GREETING = "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
SMTP_EHLO = ("250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
             "250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
             "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n")
IMAP_CAPS = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN"
IMAP_GREETING = "* OK [CAPABILITY " + IMAP_CAPS + "] Dovecot (Debian) ready.\r\n"
POP3_GREETING = "+OK Dovecot (Debian) ready.\r\n"
POP3_CAPA = ("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
             "USER\r\nSASL PLAIN\r\n.\r\n")
PG_SSL = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
PG_GSS = b"\x00\x00\x00\x08\x04\xd2\x16\x30"
PG_STARTUP = (b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00"
              b"\x00")
PG_AUTH_OK = b"R\x00\x00\x00\x08\x00\x00\x00\x00"

MY_SSL = 0x800
MY_CLIENT_CAPS = 0x01BFA20D  # PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, ...


def my_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def my_greeting(version, caps, maria, plugin):
    p = b"\x0a" + version.encode() + b"\x00" + struct.pack("<I", 0x2F)
    p += b"\x12\x34\x56\x78\x1a\x2b\x3c\x4d\x00" + struct.pack("<H", caps & 0xFFFF)
    p += bytes([0x2D if maria else 0xFF]) + struct.pack("<HH", 2, caps >> 16) + bytes([21])
    p += b"\x00" * 6 + (struct.pack("<I", 0x1D) if maria else b"\x00" * 4)
    p += bytes(range(1, 13)) + b"\x00" + plugin.encode() + b"\x00"
    return my_packet(0, p)


def my_client(seq, caps, full):
    p = struct.pack("<II", caps, 0x01000000) + b"\xff" + b"\x00" * 23
    if full:
        p += b"root\x00" + bytes([32]) + b"\x5a" * 32 + b"caching_sha2_password\x00"
    return my_packet(seq, p)


def mysql_session(version, caps, maria, plugin, switch=False):
    steps = [S(my_greeting(version, caps & ~MY_SSL, maria, plugin)),
             C(my_client(1, MY_CLIENT_CAPS | MY_SSL, False) + b"\x16\x03\x01\x00\x05hello"),
             C(my_client(2, MY_CLIENT_CAPS | MY_SSL, True))]
    if switch:
        steps += [S(my_packet(2, b"\xfemysql_native_password\x00abcdefghijklmnopqrst\x00")),
                  C(my_packet(3, b"01234567890123456789")),
                  S(my_packet(4, b"\x00\x00\x00\x02\x00\x00\x00"))]
    else:
        steps += [S(my_packet(2, b"\x01\x03")), S(my_packet(3, b"\x00\x00\x00\x02\x00\x00\x00"))]
    steps.append(C(my_packet(0, b"\x03select @@version_comment limit 1")))
    return steps


SEEDS = {
    "smtp_session": (SMTP, [S(SMTP_GREETING), C("EHLO client.example.net\r\n"), S(SMTP_EHLO),
                            C("STARTTLS\r\n"), C("EHLO client.example.net\r\n"), S(SMTP_EHLO),
                            C("MAIL FROM:<alice@example.net>\r\n"), S("250 2.1.0 Ok\r\n")]),
    "smtp_injection": (SMTP, [S(SMTP_GREETING), C("EHLO x\r\nSTARTTLS\r\nRSET\r\n"),
                              S("250-mail.example.org\r\n250 8BITMIME\r\n"), C("EHLO x\r\n")]),
    "smtp_has_tls": (SMTP, [S(SMTP_GREETING), C("EHLO x\r\n"),
                            S("250-mail.example.org\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
                            C("STARTTLS\r\n")]),
    "smtp_lf_helo": (SMTP, [S("220-mail.example.org ESMTP\n220 welcome\n"), C("EHLO x\n"),
                            S("502 5.5.2 Error\n"), C("HELO x\nNOOP\n"),
                            S("250 mail.example.org\n250 ok\n"), C("starttls\n"),
                            C("EHLO x\n"), S("250-mail.example.org\n250 STARTTLS\n")]),
    "imap_session": (IMAP, [S(IMAP_GREETING), C("a1 CAPABILITY\r\n"),
                            S("* CAPABILITY " + IMAP_CAPS + "\r\na1 OK done\r\n"),
                            C("a2 STARTTLS\r\n"), C("a3 CAPABILITY\r\n"),
                            S("* CAPABILITY " + IMAP_CAPS + " LOGINDISABLED\r\na3 OK done\r\n"),
                            C("a4 LOGIN alice secret\r\n")]),
    "imap_literals": (IMAP, [S("* OK IMAP4rev1 ready\r\n"),
                             C('a1 ID ("name" {15+}\r\n\r\na9 STARTTLS\r\n)\r\n'),
                             S('* ID ("x" {16}\r\n* CAPABILITY X\r\n)\r\na1 OK ID done\r\n'),
                             C("a2 ID {3}\r\n"), S("+ go\r\n"), C("abc\r\n"),
                             S("a2 OK done\r\n"), C("a3 STARTTLS\r\na4 LOGIN x y\r\n")]),
    "imap_has_tls": (IMAP, [S("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
                            C("a1 STARTTLS\r\n")]),
    "pop3_session": (POP3, [S(POP3_GREETING), C("CAPA\r\n"), S(POP3_CAPA), C("STLS\r\n"),
                            C("CAPA\r\n"), S(POP3_CAPA.replace(".\r\n", "STLS\r\n.\r\n")),
                            C("USER bob\r\n"), S("+OK\r\n")]),
    "pop3_injection": (POP3, [S(POP3_GREETING), C("CAPA\r\nSTLS\r\nUSER evil\r\n"), S(POP3_CAPA),
                              C("USER bob\r\n")]),
    "pg_plain_server": (PG, [C(PG_SSL), S("N"), C(PG_STARTUP), S(PG_AUTH_OK)]),
    "pg_tls_server": (PG, [C(PG_SSL), S("S"), C(b"\x16\x03\x01\x00\x05hello")]),
    "pg_gssenc": (PG, [C(PG_GSS), C(PG_SSL + b"Q\x00\x00\x00\x0dselect 1\x00"), S("N"),
                       C(PG_STARTUP)]),
    "mysql8": (MYSQL, mysql_session("8.0.36", 0xDFFFFFFF, False, "caching_sha2_password")),
    "mariadb": (MYSQL, mysql_session("5.5.5-10.11.6-MariaDB-0+deb12u1", 0x81FFF7FE, True,
                                     "mysql_native_password", switch=True)),
    "smtp_overlong": (SMTP, [S(SMTP_GREETING), C("EHLO x\r\n"), S(SMTP_EHLO),
                             C("NOOP " + "A" * 5000 + "\r\n")]),
    "smtp_flood": (SMTP, [S(SMTP_GREETING), C("EHLO a\r\n" * 31), S("250 x\r\n" * 31),
                          C("STARTTLS\r\n")]),
    "imap_overlong": (IMAP, [S("* OK ready\r\n"), C("a1 NOOP " + "x" * 5000 + "\r\n")]),
    "pop3_overlong": (POP3, [S(POP3_GREETING), C("CAPA\r\n"), S("+OK\r\n" + "Y" * 5000)]),
    "mysql_has_tls": (MYSQL, [S(my_greeting("8.0.36", 0xDFFFFFFF, False,
                                            "caching_sha2_password")),
                              C(my_client(1, MY_CLIENT_CAPS | MY_SSL, False))]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (proto, steps) in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(session(proto, steps))


if __name__ == "__main__":
    main()
