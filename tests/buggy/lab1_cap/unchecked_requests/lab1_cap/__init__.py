"""Bug: request bodies are trusted: a missing key or an unknown op raises inside the
handler instead of getting {"error": "bad_request"}.

Caught by: test_bad_requests_get_errors.
Evidence: KeyError"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def on_request(self, request):
        body = request.body
        strong = body.get("consistency") == "strong"
        if body["op"] == "get":
            (self.start_strong_read if strong else self.local_read)(request, body["key"])
        else:
            (self.start_strong_write if strong else self.eventual_write)(
                request, body["key"], body["value"])
