"""Fast JSON copies: every message, reply, request and storage write goes through here.

``dumps`` builds the C encoder once (``json.dumps`` rebuilds it on every call) and produces the
compact form; ``loads`` uses the C scanner directly. Both raise what ``json`` raises on bad
input; ``labkit.storage.to_json`` turns that into a message naming the offending field.

The hottest paths (a send, a delivery, a storage write) call ``encode`` / ``scan`` directly,
saving a Python call per message: ``"".join(encode(obj, 0)) == dumps(obj)`` and
``scan(text, 0)[0] == loads(text)``.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring_ascii
from json.scanner import c_make_scanner
from typing import Any

encode = c_make_encoder(None, None, encode_basestring_ascii, None, ":", ",", False, False, False)
scan = c_make_scanner(json.JSONDecoder())


def dumps(obj: Any) -> str:
    """Compact JSON text of ``obj`` (no NaN or infinity)."""
    return "".join(encode(obj, 0))


def loads(data: str) -> Any:
    return scan(data, 0)[0]
