#!/usr/bin/env python3
"""mkkeys.py - test signing keys for the integration tier.

Writes into DIR: rsa.pem and ec.pem (private keys whose public halves are in
jwks.json, kids "integ-rs" and "integ-es"), rogue-rsa.pem (a key the service
does not know, for bad-signature tests) and jwks.json (public keys only).
Usage: mkkeys.py DIR
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64u_int(n, length=None):
    if length is None:
        length = (n.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(n.to_bytes(length, "big")).rstrip(b"=").decode()


def write_private(path, key):
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with open(path, "wb") as f:
        f.write(pem)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkkeys.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    write_private(os.path.join(out, "rsa.pem"), rsa_key)
    write_private(os.path.join(out, "rogue-rsa.pem"), rogue)
    write_private(os.path.join(out, "ec.pem"), ec_key)
    rn = rsa_key.public_key().public_numbers()
    en = ec_key.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "integ-rs", "use": "sig", "alg": "RS256",
         "n": b64u_int(rn.n), "e": b64u_int(rn.e)},
        {"kty": "EC", "kid": "integ-es", "use": "sig", "alg": "ES256", "crv": "P-256",
         "x": b64u_int(en.x, 32), "y": b64u_int(en.y, 32)},
    ]}
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump(jwks, f, indent=1)


if __name__ == "__main__":
    main()
