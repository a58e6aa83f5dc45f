#!/usr/bin/python3
"""The dkimpy side of spamgate's ARC cross-check (arc/dkimpy_test.go).

Reads one JSON request on stdin and writes one JSON answer on stdout:
  {"zone": {name: record}, "verify": [message or {"message", "zone"}, ...]}
      -> {"verify": [{"cv": "pass|fail|none", "reason": "..."}, ...]}
  {"zone": ..., "sign": {"message", "key" (PKCS#1 PEM), "domain", "selector", "srv_id"}}
      -> {"sign": [header line, ...]}  (AAR, AMS, AS fields of the new set, top first)
Keys come from "zone" instead of DNS: dkimpy's dnsfunc hook.
"now" (Unix seconds), when given, is dkimpy's clock: the Go tests run on a
fixed clock, and x= checks must agree on it whatever the date of the run.
"""
import json
import logging
import sys
import time

import dkim

logging.disable(logging.CRITICAL)
req = json.load(sys.stdin)
if "now" in req:
    time.time = lambda: float(req["now"])


def resolver(records):
    zone = {k.lower().rstrip("."): v for k, v in records.items()}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        rec = zone.get(name.lower().rstrip("."))
        return rec.encode() if rec is not None else None
    return dnsfunc


dnsfunc = resolver(req.get("zone", {}))


out = {}
if "verify" in req:
    res = []
    for msg in req["verify"]:
        fn = dnsfunc
        if isinstance(msg, dict):  # a message with its own zone
            msg, fn = msg["message"], resolver(msg["zone"])
        try:
            cv, _, reason = dkim.arc_verify(msg.encode(), dnsfunc=fn)
        except Exception as e:  # dkimpy raises on some malformed input
            cv, reason = b"fail", "exception: %s" % e
        res.append({"cv": (cv or b"fail").decode(), "reason": str(reason)})
    out["verify"] = res
if "sign" in req:
    s = req["sign"]
    sets = dkim.arc_sign(s["message"].encode(), s["selector"].encode(), s["domain"].encode(),
                         s["key"].encode(), s["srv_id"].encode(), timestamp=s.get("timestamp"))
    out["sign"] = [h.decode() for h in sets]
json.dump(out, sys.stdout)
