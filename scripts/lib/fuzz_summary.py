"""Summarises a schemathesis NDJSON report: the HTTP statuses each operation answered.

Fails when an operation named on the command line never answered 2xx — proof that the
fuzzer got past authentication and reached the handlers, not only their error paths.

    python3 fuzz_summary.py events.ndjson "GET /api/tickets" "GET /auth/me" ...
"""

import collections
import json
import sys


def main() -> int:
    path, required = sys.argv[1], sys.argv[2:]
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            done = event.get("ScenarioFinished")
            if not done:
                continue
            recorder = done.get("recorder") or {}
            label = recorder.get("label", "?")
            for interaction in (recorder.get("interactions") or {}).values():
                response = interaction.get("response") or {}
                code = response.get("status_code")
                if code is not None:
                    statuses[label][code] += 1
    for label in sorted(statuses):
        counts = ", ".join(f"{c}×{n}" for c, n in sorted(statuses[label].items()))
        print(f"  {label:<48} {counts}")
    missing = [r for r in required if not any(200 <= c < 300 for c in statuses.get(r, {}))]
    if missing:
        print("error: these operations never answered 2xx: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
