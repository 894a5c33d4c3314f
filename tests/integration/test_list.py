"""test_list.py - GET /api/automl/train/jobs: newest first, filters, limit
bounds, keyset cursor pagination that stays stable while jobs are inserted,
and visibility (jobs of other domains never appear)."""
import pytest

from conftest import JOBS, admin_token, assert_422, create_ok, hs256


def page(api, token, **params):
    r = api.request("GET", JOBS, token=token, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"items", "next_cursor"}, body
    return body


def test_list_newest_first_and_shape(api, domain, token):
    ids = [create_ok(api, token, domain, name="job %d" % i)["job_id"] for i in range(3)]
    body = page(api, token, domain=domain)
    assert [j["job_id"] for j in body["items"]] == ids[::-1]
    assert body["next_cursor"] is None
    for j in body["items"]:
        assert j["domain"] == domain
        assert "rendered_dag" in j


def test_filters(api, domain, token, double):
    a = create_ok(api, token, domain, problem_type="regression", algorithm="lightgbm_regressor")
    b = create_ok(api, token, domain, problem_type="regression", algorithm="vw_regressor",
                  auto_trigger=True)
    c = create_ok(api, hs256("bob", [domain]), domain, problem_type="ranking",
                  algorithm="lightgbm_ranker")

    def ids(**f):
        return [j["job_id"] for j in page(api, token, domain=domain, **f)["items"]]

    assert ids() == [c["job_id"], b["job_id"], a["job_id"]]
    assert ids(problem_type="regression") == [b["job_id"], a["job_id"]]
    assert ids(algorithm="vw_regressor") == [b["job_id"]]
    assert ids(status="queued") == [b["job_id"]]
    assert ids(status="ready") == [c["job_id"], a["job_id"]]
    assert ids(status="complete") == []
    assert ids(owner="bob") == [c["job_id"]]
    assert ids(owner="alice", status="ready") == [a["job_id"]]
    assert ids(owner="nobody") == []
    assert ids(problem_type="regression", algorithm="lightgbm_ranker") == []


def test_foreign_domains_invisible(api, domain, token):
    other = "o_" + domain
    mine = create_ok(api, token, domain)
    theirs = create_ok(api, hs256("bob", [other]), other)
    # no filter: only my domains
    seen = set()
    body = page(api, token, limit=200)
    while True:
        seen.update(j["job_id"] for j in body["items"])
        for j in body["items"]:
            assert j["domain"] == domain, j
        if not body["next_cursor"]:
            break
        body = page(api, token, limit=200, cursor=body["next_cursor"])
    assert mine["job_id"] in seen
    assert theirs["job_id"] not in seen
    # asking for the other domain by name shows nothing of it
    r = api.request("GET", JOBS, token=token, params={"domain": other})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    # a token with two domains sees both; admin sees both
    both = hs256("carol", [domain, other])
    got = {j["job_id"] for j in page(api, both, limit=200)["items"]}
    assert {mine["job_id"], theirs["job_id"]} <= got
    got = {j["job_id"] for j in page(api, admin_token(), domain=other)["items"]}
    assert got == {theirs["job_id"]}


def test_token_without_domains_sees_nothing(api, domain, token):
    create_ok(api, token, domain)
    body = page(api, hs256("nobody", []))
    assert body["items"] == [] and body["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "201", "-5", "1.5", "", "1e2", "99999999999999999999"])
def test_limit_bounds(api, token, limit):
    r = api.request("GET", JOBS, token=token, params={"limit": limit})
    assert_422(r, ("query", "limit"))


def test_default_limit_is_50(lighttpd, domain, token):
    for i in range(52):
        create_ok(lighttpd, token, domain, name="bulk %d" % i)
    body = page(lighttpd, token, domain=domain)
    assert len(body["items"]) == 50
    assert body["next_cursor"]
    rest = page(lighttpd, token, domain=domain, cursor=body["next_cursor"])
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    assert len(page(lighttpd, token, domain=domain, limit=200)["items"]) == 52


def test_cursor_pagination_stable_under_inserts(api, domain, token):
    created = [create_ok(api, token, domain, name="p%d" % i)["job_id"] for i in range(7)]
    expected = created[::-1]
    seen, inserted = [], []
    body = page(api, token, domain=domain, limit=2)
    pages = 0
    while True:
        pages += 1
        assert len(body["items"]) <= 2
        seen.extend(j["job_id"] for j in body["items"])
        # someone inserts between our page fetches
        inserted.append(create_ok(api, token, domain, name="late %d" % pages)["job_id"])
        if not body["next_cursor"]:
            break
        body = page(api, token, domain=domain, limit=2, cursor=body["next_cursor"])
        assert pages < 20
    assert len(seen) == len(set(seen)), "duplicates across pages: %r" % seen
    assert seen == expected, "skipped or reordered: %r vs %r" % (seen, expected)
    assert not set(inserted) & set(seen), "newer jobs must not appear on later pages"
    # a fresh first page starts with the newest insert
    assert page(api, token, domain=domain, limit=1)["items"][0]["job_id"] == inserted[-1]


def test_cursor_of_other_query_is_harmless(api, domain, token):
    for _ in range(3):
        create_ok(api, token, domain)
    body = page(api, token, domain=domain, limit=1)
    cur = body["next_cursor"]
    assert cur
    # same cursor with another filter: still a valid keyset position
    r = api.request("GET", JOBS, token=token, params={"cursor": cur, "limit": 5, "domain": domain})
    assert r.status_code == 200
    assert len(r.json()["items"]) == 2
    # tampered cursors are 422, never 500
    for bad in (cur[:-2], cur + "!!", "AAAA", "%00", "x" * 500):
        r = api.request("GET", JOBS, token=token, params={"cursor": bad})
        assert_422(r, ("query", "cursor"))
