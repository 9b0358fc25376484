"""The stack's own CA and the TLS proxy's server certificate (services/tls.py), in the stack dir's `tls/`.

  ca.crt       the CA clients trust (`devstack env` names it: DEVSTACK_CA_CERT and each client's own variable)
  ca.key       its key (0600): only devstack signs with it
  server.pem   the proxy's certificate, its chain and its key, as HAProxy reads them (0644: the proxy runs as its
               image's user, not as you; the stack dir itself is 0700)

The CA is made once per stack and kept, like the stack's passwords, so a client that trusts it keeps working
across renders; `down --volumes` keeps it too. The server certificate is made again when the names it must carry
change (the bind address) or when it has less than 30 days left. Names: localhost, 127.0.0.1, ::1, this host's
name, and the bind address when it is a specific one. 397 days, ECDSA P-256: what browsers and macOS accept for a
server certificate, and what every client here speaks (OpenSSL, librdkafka, Python's ssl).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from devstack.core.files import write_atomic, write_private
from devstack.services.tls import CA_CERT, CA_NAME, SERVER_PEM

CA_KEY = "ca.key"
CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_DAYS = 30


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: Path
    names: tuple[str, ...]  # the server certificate's subject alternative names
    made: tuple[str, ...]  # what this call made: "ca", "server"


def server_names(bind: str, hostname: str | None = None) -> tuple[str, ...]:
    """The names the proxy's certificate carries: loopback by name and address, this host, and the bind address
    when it is a specific one (a wildcard bind is reached by the machine's own addresses, which a laptop changes)."""
    names = ["localhost", "127.0.0.1", "::1"]
    host = hostname if hostname is not None else socket.gethostname()
    if host and host not in names:
        names.append(host)
    if bind not in ("0.0.0.0", "::", "") and bind not in names:
        names.append(bind)
    return tuple(names)


def _san(names: tuple[str, ...]) -> list[object]:
    from cryptography import x509

    out: list[object] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _make_ca(project: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME}{project}")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _make_server(ca_pem: bytes, ca_key_pem: bytes, names: tuple[str, ...]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the stack's CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM) + ca_pem + key_pem


def _server_ok(pem: bytes, ca_pem: bytes, names: tuple[str, ...]) -> bool:
    """The kept server certificate was signed by this CA, carries exactly `names`, and has a month left."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }
    want = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names}
    left = cert.not_valid_after_utc - _now()
    return cert.issuer == ca.subject and have == want and left > dt.timedelta(days=RENEW_DAYS)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def ensure_certificates(directory: Path, bind: str, project: str, hostname: str | None = None) -> Certificates:
    """The CA (made once, named after the stack's Compose `project`) and a current server certificate for `bind`,
    in `directory` (the stack dir's tls/)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, key_path, server_path = directory / CA_CERT, directory / CA_KEY, directory / SERVER_PEM
    made: list[str] = []
    if not (ca_path.is_file() and key_path.is_file()):
        cert, key = _make_ca(project)
        write_private(key_path, key.decode())
        write_atomic(ca_path, cert.decode())
        made.append("ca")
    ca_pem = ca_path.read_bytes()
    names = server_names(bind, hostname)
    if made or not server_path.is_file() or not _server_ok(server_path.read_bytes(), ca_pem, names):
        write_atomic(server_path, _make_server(ca_pem, key_path.read_bytes(), names).decode())
        made.append("server")
    return Certificates(ca_path, server_path, names, tuple(made))
