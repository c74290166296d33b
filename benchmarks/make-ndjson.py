#!/usr/bin/env python3
"""Writes a protocol-v1 NDJSON run of N records for school 139001 (benchmark input):
a quarter pupils, the rest their termly reading assessments. Synthetic, no real data."""
import json
import sys

LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn(n):
    twelve = f"801{2000 + n // 100_000:04d}{(n // 1000) % 100:02d}{n % 1000:03d}"
    total = sum(int(c) * (i + 2) for i, c in enumerate(twelve))
    return LETTERS[total % 23] + twelve


def main():
    records = int(sys.argv[1])
    pupils = records // 4
    per_pupil = (records - pupils) // pupils
    out = sys.stdout
    out.write(json.dumps({"type": "header", "protocol": 1, "plugin": "bench", "source_kind": "snapshot"}) + "\n")
    assessments = 0
    for n in range(pupils):
        u = upn(n)
        out.write(json.dumps({"type": "pupil", "school_urn": "139001", "upn": u, "surname": f"Surname{n}",
                              "forename": f"Forename{n}", "dob": f"20{12 + n % 6}-0{1 + n % 9}-1{n % 9}",
                              "year_group": str(1 + n % 6), "sen_provision": "NKE"[n % 3] if n % 7 == 0 else "N",
                              "needs": [{"code": "SPLD", "rank": 1}] if n % 7 == 0 else []}) + "\n")
        for k in range(per_pupil):
            assessments += 1
            out.write(json.dumps({"type": "assessment", "school_urn": "139001", "upn": u, "instrument": "Salford",
                                  "subject": "reading", "measure": "age_months", "value": 60 + (n + k * 3) % 80,
                                  "date": f"2025-{1 + k % 12:02d}-15"}) + "\n")
    out.write(json.dumps({"type": "end", "counts": {"pupil": pupils, "assessment": assessments}}) + "\n")


if __name__ == "__main__":
    main()
