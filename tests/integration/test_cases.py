"""test_cases.py - the declarative HTTP cases of cases/*.json, one request and
its expected answer each, run through every server (lighttpd and Apache).

A case is a JSON object:
  method, path          the request; "{job_id}" is a fresh ready job of the
                        test's domain, "{unknown_id}" a random uuid
  token                 "domain" (default: may act in the test's domain),
                        "foreign" (another domain) or "none"
  psk                   true: the configured Authorization-PSK; a string: that value
  json / base           a JSON body; with base, merged over a valid create body
  raw / raw_hex         a body given as text / hex bytes
  big                   a valid-looking create body padded to that many bytes
  content_type          overrides the Content-Type ("" sends none)
  status                the expected status
  locs                  422: each must be a detail[].loc
  allow                 405: the methods the Allow header must list
  www_authenticate      401: WWW-Authenticate: Bearer must be present
"""
import glob
import json
import os
import uuid

import pytest

from conftest import (CFG, assert_401, assert_422, assert_error, create_ok, hs256, job_body)

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(glob.glob(os.path.join(HERE, "cases", "*.json")))


def load(path):
    with open(path) as f:
        return json.load(f)


def test_there_are_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-5] for p in CASES])
def test_case(api, path, domain, token):
    c = load(path)
    url = c["path"]
    if "{job_id}" in url:
        url = url.replace("{job_id}", create_ok(api, token, domain)["job_id"])
    url = url.replace("{unknown_id}", str(uuid.uuid4()))

    who = c.get("token", "domain")
    tok = {"domain": token, "foreign": hs256("eve", ["d_foreign_" + domain]), "none": None}[who]
    headers = {}
    data = None
    if "json" in c:
        body = c["json"]
        if c.get("base"):
            merged = job_body(domain)
            merged.update(body)
            body = merged
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif "raw" in c:
        data = c["raw"].encode()
        headers["Content-Type"] = "application/json"
    elif "raw_hex" in c:
        data = bytes.fromhex(c["raw_hex"])
        headers["Content-Type"] = "application/json"
    elif "big" in c:
        body = job_body(domain, name="")
        pad = c["big"] - len(json.dumps(body))
        body["name"] = "x" * max(pad, 1)
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if "content_type" in c:
        if c["content_type"]:
            headers["Content-Type"] = c["content_type"]
        else:
            headers.pop("Content-Type", None)
    psk = c.get("psk")
    if psk is True:
        headers["Authorization-PSK"] = CFG["AUTOML_STATUS_PSK"]
    elif isinstance(psk, str):
        headers["Authorization-PSK"] = psk

    r = api.request(c["method"], url, token=tok, data=data, headers=headers)
    want = c["status"]
    if want == 422:
        assert_422(r, *c.get("locs", []))
    elif want == 401 and c.get("www_authenticate"):
        assert_401(r)
    elif want >= 400:
        assert_error(r, want)
    else:
        assert r.status_code == want, "%s: %s" % (r.status_code, r.text)
        assert r.headers.get("Content-Type", "").startswith("application/json")
        r.json()
    if want == 405:
        allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        assert allow == set(c["allow"]), r.headers
