#!/usr/bin/python3
"""An independent verifier of NSM attestation documents, sharing no code with qt-vmm: only
Debian's python3-cbor2 and python3-cryptography. It checks what AWS's attestation_process.md
asks (COSE_Sign1 ES384 signature with the leaf key, cabundle[0] equal to the trusted root, every
link root -> ... -> leaf signed by the one before and valid at --at, CA flags and key usages,
mandatory fields and types) and prints the payload as JSON (byte strings as hex).

Usage: verify_attestation.py --root ROOT.pem --doc DOC [--at UNIX] [--pcr N=HEX]... [--nonce HEX]
Exit 0 and JSON on stdout when the document verifies; exit 1 and "verify_attestation: REASON"
on stderr otherwise (exit 2: bad command line).
"""
import argparse
import datetime
import json
import sys
import time

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


class Rejected(Exception):
    pass


def load_document(data):
    try:
        cose = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types on junk
        raise Rejected(f"not CBOR: {e}")
    if isinstance(cose, cbor2.CBORTag):
        if cose.tag != 18:
            raise Rejected(f"tagged {cose.tag}, not 18 (COSE_Sign1)")
        cose = cose.value
    if not isinstance(cose, list) or len(cose) != 4:
        raise Rejected("not a COSE_Sign1 array of 4 items")
    protected, unprotected, payload, signature = cose
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)) or not isinstance(unprotected, dict):
        raise Rejected("COSE_Sign1 items are not [bstr, map, bstr, bstr]")
    if cbor2.loads(protected) != {1: -35}:
        raise Rejected("the protected header is not {1: -35} (ES384)")
    if len(signature) != 96:
        raise Rejected(f"the signature has {len(signature)} bytes, not 96")
    return protected, payload, signature


def check_payload(p):
    if not isinstance(p, dict):
        raise Rejected("the payload is not a map")
    types = {"module_id": str, "digest": str, "timestamp": int, "pcrs": dict, "certificate": bytes, "cabundle": list}
    for key, kind in types.items():
        if key not in p:
            raise Rejected(f"the mandatory field {key!r} is missing")
        if not isinstance(p[key], kind) or isinstance(p[key], bool):
            raise Rejected(f"{key!r} has the wrong type")
    if not p["module_id"] or p["digest"] != "SHA384" or p["timestamp"] <= 0:
        raise Rejected("module_id, digest or timestamp has a wrong value")
    if not 1 <= len(p["pcrs"]) <= 32:
        raise Rejected("pcrs does not have 1 to 32 entries")
    for index, value in p["pcrs"].items():
        if not isinstance(index, int) or not 0 <= index < 32 or not isinstance(value, bytes) or len(value) not in (32, 48, 64):
            raise Rejected(f"PCR entry {index!r} is not an index 0..31 with 32/48/64 bytes")
    if not p["cabundle"] or not all(isinstance(c, bytes) for c in p["cabundle"]):
        raise Rejected("cabundle is not a non-empty array of byte strings")
    for key in ("public_key", "user_data", "nonce"):
        if p.get(key) is not None and not isinstance(p[key], bytes):
            raise Rejected(f"{key!r} is neither bytes nor null")


def key_usage(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def signed_by(cert, issuer):
    try:
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        return cert.issuer == issuer.subject
    except InvalidSignature:
        return False


def check_chain(root_pem, payload, at):
    root = x509.load_pem_x509_certificate(root_pem)
    if payload["cabundle"][0] != root.public_bytes(serialization.Encoding.DER):
        raise Rejected("cabundle[0] is not the given root (a foreign root)")
    chain = [root] + [x509.load_der_x509_certificate(c) for c in payload["cabundle"][1:]]
    leaf = x509.load_der_x509_certificate(payload["certificate"])
    chain.append(leaf)
    if not signed_by(root, root):
        raise Rejected("the root is not self-signed")
    when = datetime.datetime.utcfromtimestamp(at)
    for i, cert in enumerate(chain):
        name = cert.subject.rfc4514_string()
        if i > 0 and not signed_by(cert, chain[i - 1]):
            raise Rejected(f"{name} is not signed by {chain[i - 1].subject.rfc4514_string()} (broken chain)")
        usage = key_usage(cert)
        if cert is leaf:
            if usage is None or not usage.digital_signature:
                raise Rejected(f"the leaf {name} lacks digitalSignature")
        elif not is_ca(cert) or usage is None or not usage.key_cert_sign:
            raise Rejected(f"{name} is not a CA with keyCertSign")
        if not cert.not_valid_before <= when <= cert.not_valid_after:
            raise Rejected(f"{name} is not valid at {at} (expired or not yet valid: {cert.not_valid_before} .. {cert.not_valid_after})")
    return leaf


def main():
    ap = argparse.ArgumentParser(description="Verify an NSM attestation document (independently of qt-vmm).")
    ap.add_argument("--root", required=True, help="PEM root certificate to trust")
    ap.add_argument("--doc", required=True, help="the document (COSE_Sign1 bytes); - for stdin")
    ap.add_argument("--at", type=int, default=None, help="Unix time for certificate validity (default now)")
    ap.add_argument("--pcr", action="append", default=[], help="N=HEX: expected PCR value (repeatable)")
    ap.add_argument("--nonce", default=None, help="HEX: expected nonce")
    args = ap.parse_args()
    try:
        data = sys.stdin.buffer.read() if args.doc == "-" else open(args.doc, "rb").read()
        root_pem = open(args.root, "rb").read()
        protected, payload_bytes, signature = load_document(data)
        payload = cbor2.loads(payload_bytes)
        check_payload(payload)
        leaf = check_chain(root_pem, payload, args.at if args.at is not None else int(time.time()))
        sig_structure = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
        der = utils.encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
        try:
            leaf.public_key().verify(der, sig_structure, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            raise Rejected("the signature does not verify with the leaf key (tampered)")
        for spec in args.pcr:
            index, _, value = spec.partition("=")
            got = payload["pcrs"].get(int(index))
            if got is None or got.hex() != value.lower():
                raise Rejected(f"PCR {index} is {got.hex() if got else 'absent'}, not {value.lower()}")
        if args.nonce is not None and (payload.get("nonce") or b"").hex() != args.nonce.lower():
            raise Rejected("the nonce differs")
    except Rejected as e:
        print(f"verify_attestation: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # whatever a hostile document makes a library raise is a rejection too
        print(f"verify_attestation: cannot check the document: {type(e).__name__}: {e}", file=sys.stderr)
        return 1

    def plain(v):
        if isinstance(v, bytes):
            return v.hex()
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    print(json.dumps(plain(payload), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
