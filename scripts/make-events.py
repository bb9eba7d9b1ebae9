#!/usr/bin/env python3
"""Writes the curated sample stream events in events/ (Lambda DynamoDB stream event shape).

Run from the repository root: python3 scripts/make-events.py. The output is committed; this
script documents how each sample was built.
"""
import hashlib, json, os

ARN = {
    "prod": "arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-prod/stream/2026-11-01T00:00:00.000",
    "dev": "arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-dev/stream/2026-11-01T00:00:00.000",
}
T0 = 1795392000  # 2026-11-23T00:00:00Z
seq = [400000000000000000000000]


def S(v): return {"S": v}
def N(v): return {"N": str(v)}
def B(v): return {"BOOL": v}


def stamp(item, who, req, version, at):
    item = dict(item)
    item.update({"updatedBy": S(who), "updatedAt": S(at), "requestId": S(req), "version": N(version)})
    return item


def flag(env, key, **kw):
    base = {
        "PK": S(f"FLAG#{env}#{key}"), "SK": S("METADATA"), "flagKey": S(key),
        "description": S("New checkout flow with one-page payment"), "defaultEnabled": B(False),
        "owner": S("payments-team"), "teams": {"SS": ["payments", "web"]}, "rolloutPercentage": N(10),
        "targetSegments": {"L": [{"M": {"type": S("region"), "operator": S("in"), "value": {"SS": ["EU", "JP"]}}}]},
        "conditions": {"L": [{"M": {"field": S("plan"), "operator": S("equals"), "value": S("enterprise")}}]},
        "createdAt": S("2026-11-20T09:00:00.000Z"),
    }
    base.update(kw)
    return base


def record(env, name, keys, old=None, new=None, view="NEW_AND_OLD_IMAGES", offset=0, ttl=False, frac=False):
    seq[0] += 100
    ddb = {"ApproximateCreationDateTime": (T0 + offset + 0.25) if frac else T0 + offset, "Keys": keys,
           "SequenceNumber": str(seq[0]), "SizeBytes": 200, "StreamViewType": view}
    if new is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        ddb["NewImage"] = new
    if old is not None and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        ddb["OldImage"] = old
    r = {"eventID": hashlib.md5(f"{seq[0]}{json.dumps(keys, sort_keys=True)}".encode()).hexdigest(),
         "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
         "dynamodb": ddb, "eventSourceARN": ARN.get(env, ARN["dev"])}
    if ttl:
        r["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return r


def keys_of(item): return {"PK": item["PK"], "SK": item["SK"]}


def write(name, records):
    os.makedirs("events", exist_ok=True)
    with open(f"events/{name}.json", "w") as f:
        json.dump({"Records": records}, f, indent=2)
        f.write("\n")


at = lambda m: f"2026-11-23T00:{m:02d}:00.000Z"
for env in ("prod", "dev"):
    key = "checkout-v2"
    created = stamp(flag(env, key), "alice@example.com", f"req-{env}-create", 1, at(0))
    write(f"flag-insert-{env}", [record(env, "INSERT", keys_of(created), new=created)])
    updated = stamp(flag(env, key, rolloutPercentage=N(50), defaultEnabled=B(True)), "bob@example.com", f"req-{env}-rollout", 2, at(5))
    write(f"flag-modify-{env}", [record(env, "MODIFY", keys_of(created), old=created, new=updated, offset=300)])
    write(f"flag-remove-{env}", [record(env, "REMOVE", keys_of(updated), old=updated, offset=600)])
    for scope in ("flag", "global"):
        if scope == "flag":
            base = {"PK": S(f"FLAG#{env}#{key}"), "SK": S("KILLSWITCH")}
        else:
            base = {"PK": S(f"KILLSWITCH#{env}"), "SK": S("GLOBAL")}
        off = stamp(dict(base, enabled=B(False), reason=S("initial state")), "carol@example.com", f"req-{env}-{scope}-ks0", 1, at(10))
        on = stamp(dict(base, enabled=B(True), reason=S("Payment provider outage INC-4711")), "carol@example.com", f"req-{env}-{scope}-ks1", 2, at(11))
        back = stamp(dict(base, enabled=B(False), reason=S("Provider recovered")), "dave@example.com", f"req-{env}-{scope}-ks2", 3, at(40))
        write(f"killswitch-{scope}-on-{env}", [record(env, "MODIFY", base, old=off, new=on, offset=660)])
        write(f"killswitch-{scope}-off-{env}", [record(env, "MODIFY", base, old=on, new=back, offset=2400)])

env = "prod"
ov_keys = {"PK": S("FLAG#prod#checkout-v2"), "SK": S("TENANT#acme-corp")}
ov1 = stamp(dict(ov_keys, tenantId=S("acme-corp"), enabled=B(True)), "erin@example.com", "req-ov-set", 1, at(15))
ov2 = stamp(dict(ov_keys, tenantId=S("acme-corp"), enabled=B(False), note=S("customer asked to opt out")), "erin@example.com", "req-ov-change", 2, at(16))
write("override-set", [record(env, "INSERT", ov_keys, new=ov1, offset=900)])
write("override-changed", [record(env, "MODIFY", ov_keys, old=ov1, new=ov2, offset=960)])
write("override-removed", [record(env, "REMOVE", ov_keys, old=ov2, offset=1020)])

f1 = stamp(flag("prod", "search-ranking", rolloutPercentage=N(25)), "frank@example.com", "req-noop-1", 4, at(20))
f2 = stamp(flag("prod", "search-ranking", rolloutPercentage=N("25.0"), teams={"SS": ["web", "payments"]}), "frank@example.com", "req-noop-2", 5, at(21))
write("flag-modify-noop", [record("prod", "MODIFY", keys_of(f1), old=f1, new=f2, offset=1260)])

meta1 = stamp(flag("dev", "dark-mode", description=S("Dark mode")), "gina@example.com", "req-desc-1", 1, at(22))
meta2 = stamp(flag("dev", "dark-mode", description=S("Dark mode for the web app"), owner=S("design-team")), "gina@example.com", "req-desc-2", 2, at(23))
write("flag-modify-description-only", [record("dev", "MODIFY", keys_of(meta1), old=meta1, new=meta2, offset=1380)])

unk_keys = {"PK": S("SEGMENT#prod#beta-testers"), "SK": S("DEFINITION")}
unk = stamp(dict(unk_keys, members={"NS": ["1", "2", "3"]}, blob={"B": "AAECAwQ="}), "hank@example.com", "req-unk", 1, at(25))
write("unknown-item-insert", [record("prod", "INSERT", unk_keys, new=unk, offset=1500)])

ttl_keys = {"PK": S("FLAG#dev#temp-experiment"), "SK": S("TENANT#trial-42")}
ttl_item = stamp(dict(ttl_keys, tenantId=S("trial-42"), enabled=B(True), expiresAt=N(T0)), "ivan@example.com", "req-ttl", 1, at(26))
write("ttl-delete", [record("dev", "REMOVE", ttl_keys, old=ttl_item, offset=1560, ttl=True)])

ks = {"PK": S("FLAG#prod#checkout-v2"), "SK": S("KILLSWITCH")}
write("keys-only-killswitch", [record("prod", "MODIFY", ks, view="KEYS_ONLY", offset=1620)])
write("new-image-only-flag", [record("prod", "MODIFY", keys_of(updated := stamp(flag("prod", "checkout-v2", rolloutPercentage=N(75)), "bob@example.com", "req-newimg", 3, at(28))), old=None, new=updated, view="NEW_IMAGE", offset=1680, frac=True)])

big = stamp(flag("prod", "pricing-experiment", rolloutPercentage=N("12345678901234567890123456789012345678"), weight=N("0.000000000000000000000000000000000001")), "judy@example.com", "req-bignum", 1, at(29))
write("exact-numbers", [record("prod", "INSERT", keys_of(big), new=big, offset=1740)])

# A realistic mixed batch as Lambda delivers it: a flag life cycle, overrides and switches.
batch = []
k = "onboarding-tour"
b1 = stamp(flag("prod", k, description=S("Guided tour for new users")), "kim@example.com", "req-b1", 1, at(30))
b2 = stamp(flag("prod", k, description=S("Guided tour for new users"), rolloutPercentage=N(100)), "kim@example.com", "req-b2", 2, at(31))
batch.append(record("prod", "INSERT", keys_of(b1), new=b1, offset=1800))
batch.append(record("prod", "MODIFY", keys_of(b1), old=b1, new=b2, offset=1860))
for t in ("acme-corp", "globex", "initech"):
    tk = {"PK": S(f"FLAG#prod#{k}"), "SK": S(f"TENANT#{t}")}
    batch.append(record("prod", "INSERT", tk, new=stamp(dict(tk, tenantId=S(t), enabled=B(t != "globex")), "kim@example.com", f"req-b-{t}", 1, at(32)), offset=1920))
kk = {"PK": S(f"FLAG#prod#{k}"), "SK": S("KILLSWITCH")}
batch.append(record("prod", "INSERT", kk, new=stamp(dict(kk, enabled=B(True), reason=S("Tour breaks checkout on Safari")), "lee@example.com", "req-b-ks", 1, at(33)), offset=1980))
batch.append(record("prod", "REMOVE", keys_of(b2), old=b2, offset=2040))
write("batch-mixed", batch)
# One record a decoder cannot read (unknown type descriptor) between two good ones: the good ones
# are processed and the bad one is quarantined, not dropped.
import copy
bad = [record("dev", "INSERT", keys_of(meta1), new=copy.deepcopy(meta1), offset=2100), record("dev", "MODIFY", keys_of(meta1), old=meta1, new=meta2, offset=2160), record("dev", "REMOVE", keys_of(meta2), old=meta2, offset=2220)]
bad[1] = copy.deepcopy(bad[1])
bad[1]["dynamodb"]["NewImage"]["rolloutPercentage"] = {"DECIMAL": "12"}
write("batch-with-undecodable-record", bad)

# Attribution (docs/delete-stamp.md): the delete stamp, then the delete — both name the deleter;
# a console edit that kept the old stamp, and a delete without the stamp — both name nobody.
dk = "legacy-banner"
d1 = stamp(flag("prod", dk, description=S("Old banner")), "mallory@example.com", "req-del-create", 1, at(41))
d2 = dict(d1, deletedBy=S("nina@example.com"), deleteRequestId=S("req-del-nina"), deletedAt=S(at(42)), version=N(2))
write("delete-with-stamp", [record("prod", "MODIFY", keys_of(d1), old=d1, new=d2, offset=2520), record("prod", "REMOVE", keys_of(d2), old=d2, offset=2521)])
u1 = stamp(flag("prod", "search-ranking", rolloutPercentage=N(30)), "frank@example.com", "req-rank-1", 6, at(43))
u2 = dict(u1, rolloutPercentage=N(90), version=N(7))
write("modify-unstamped-prod", [record("prod", "MODIFY", keys_of(u1), old=u1, new=u2, offset=2580)])
write("remove-unstamped-prod", [record("prod", "REMOVE", keys_of(u2), old=u2, offset=2640)])
print("wrote", len(os.listdir("events")), "files")
