"""test_auth.py - bearer tokens through the real servers: every 401 reason of
the contract (with WWW-Authenticate: Bearer), RS256/ES256 from the JWKS,
alg:none and algorithm confusion, 403 for a foreign domain, 404 for jobs of
other domains, and the automl:admin scope."""
import time

import pytest

from conftest import (JOBS, ROGUE_KEY, admin_token, assert_401, assert_error, claims,
                      create_ok, es256, hmac_token, hs256, job_body, raw_token, rs256)
from cryptography.hazmat.primitives import serialization


def rsa_public_pem():
    from conftest import RSA_KEY
    return RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def bad_tokens(domain):
    now = int(time.time())
    good_claims = claims("mallory", [domain])
    return {
        "garbage": "not-a-jwt",
        "two-parts": "abc.def",
        "bad-base64": "###.###.###",
        "empty-sig": hs256("alice", [domain]).rsplit(".", 1)[0] + ".",
        "bad-signature-hs256": hs256("alice", [domain])[:-4] + "AAAA",
        "wrong-secret": hmac_token({"alg": "HS256", "typ": "JWT"}, good_claims, b"not-the-secret"),
        "rogue-rsa-key": rs256("alice", [domain], key=ROGUE_KEY),
        "unknown-kid": rs256("alice", [domain], kid="nobody"),
        "expired": hs256("alice", [domain], exp_in=-3600),
        "expired-rs256": rs256("alice", [domain], exp_in=-3600),
        "no-exp": hs256("alice", [domain], exp=None),
        "nbf-future": hs256("alice", [domain], nbf=now + 600),
        "iat-future": hs256("alice", [domain], iat=now + 600),
        "wrong-iss": hs256("alice", [domain], iss="https://evil.example/"),
        "no-iss": hs256("alice", [domain], iss=None),
        "wrong-aud": hs256("alice", [domain], aud="someone-else"),
        "no-aud": hs256("alice", [domain], aud=None),
        "alg-none": raw_token({"alg": "none", "typ": "JWT"}, good_claims),
        "alg-None": raw_token({"alg": "None", "typ": "JWT"}, good_claims),
        # HS256 "signed" with the RSA public key of kid integ-rs: algorithm confusion
        "alg-confusion": hmac_token({"alg": "HS256", "typ": "JWT", "kid": "integ-rs"},
                                    good_claims, rsa_public_pem()),
        # an RS256 header over an ES256 key id
        "alg-kid-mismatch": rs256("alice", [domain], kid="integ-es"),
    }


BAD = sorted(bad_tokens("x"))


@pytest.mark.parametrize("name", BAD)
def test_bad_token_401(api, domain, name):
    tok = bad_tokens(domain)[name]
    r = api.request("GET", JOBS, token=tok)
    assert_401(r)
    r = api.create(tok, job_body(domain))
    assert_401(r)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=",
                                    "bearer-ish token", "Token abc"])
def test_missing_or_malformed_header_401(api, header):
    headers = {} if header is None else {"Authorization": header}
    r = api.request("GET", JOBS, headers=headers)
    assert_401(r)


def test_every_protected_endpoint_needs_a_token(api, domain, token):
    job = create_ok(api, token, domain)
    for method, path in [("GET", JOBS), ("POST", JOBS), ("GET", JOBS + "/" + job["job_id"]),
                         ("POST", JOBS + "/" + job["job_id"] + "/trigger"),
                         ("GET", JOBS + "/status?ids=" + job["job_id"])]:
        r = api.request(method, path)
        assert_401(r)
    # and nothing happened: the job is still ready
    r = api.get(token, job["job_id"])
    assert r.json()["status"] == "ready"


def test_nbf_and_iat_within_leeway_accepted(api, domain):
    now = int(time.time())
    tok = hs256("alice", [domain], nbf=now + 20, iat=now + 20)
    assert api.request("GET", JOBS, token=tok).status_code == 200


@pytest.mark.parametrize("mint", [hs256, rs256, es256], ids=["HS256", "RS256", "ES256"])
def test_each_algorithm_accepted_and_owner_is_sub(api, domain, mint):
    tok = mint("carol-" + mint.__name__, [domain])
    r = api.create(tok, job_body(domain))
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "carol-" + mint.__name__


def test_owner_never_from_body(api, domain, token):
    r = api.create(token, job_body(domain, owner="mallory"))
    # either the extra field is ignored or refused; never believed
    if r.status_code == 201:
        assert r.json()["owner"] == "alice"
    else:
        assert r.status_code == 422, r.text


def test_403_create_in_foreign_domain(api, domain):
    tok = hs256("alice", ["some_other_domain"])
    r = api.create(tok, job_body(domain))
    assert_error(r, 403)
    # nothing was stored: the owner of the domain sees no job
    r = api.request("GET", JOBS, token=hs256("bob", [domain]), params={"domain": domain})
    assert r.status_code == 200
    assert r.json()["items"] == []


def test_403_token_without_domains(api, domain):
    r = api.create(hs256("alice", []), job_body(domain))
    assert_error(r, 403)
    # no "domains" claim at all: a valid token that may act nowhere
    r = api.create(hs256("alice", None), job_body(domain))
    assert_error(r, 403)


def test_404_job_of_other_domain(api, domain, token):
    job = create_ok(api, token, domain)
    other = hs256("eve", ["d_elsewhere"])
    jid = job["job_id"]
    assert_error(api.get(other, jid), 404)
    assert_error(api.trigger(other, jid), 404)
    r = api.request("GET", JOBS + "/status", token=other, params={"ids": jid})
    assert r.status_code == 200
    assert r.json()["items"] == []
    # still ready, not triggered by the outsider
    assert api.get(token, jid).json()["status"] == "ready"


def test_admin_scope_sees_every_domain(api, domain, token):
    job = create_ok(api, token, domain)
    adm = admin_token()
    r = api.get(adm, job["job_id"])
    assert r.status_code == 200, r.text
    r = api.request("GET", JOBS, token=adm, params={"domain": domain})
    assert [j["job_id"] for j in r.json()["items"]] == [job["job_id"]]
    r = api.create(adm, job_body(domain))
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "root-operator"


def test_scope_without_admin_is_not_admin(api, domain, token):
    job = create_ok(api, token, domain)
    tok = hs256("alice2", ["d_other"], scope="automl:read automl:administrator")
    assert_error(api.get(tok, job["job_id"]), 404)
