#!/usr/bin/env python3
"""Example SEND Provision importer plugin (protocol 1), in Python with no dependencies.

Reads CSV files with the columns
    school_urn, upn, surname, forename, dob (dd/mm/yyyy), year_group, sen_provision,
    reading_age_months, reading_date (dd/mm/yyyy)
and writes one NDJSON record per line to stdout: a header, a pupil record per row, an
assessment record per row that has a reading age, an error record per row it cannot read,
and an end record with the counts. Diagnostics go to stderr, never stdout.

The supervisor runs it as `import_csv.py --source PATH`, where PATH is a CSV file or a
folder of them, with only PATH, LANG, TZ, PROVISION_PROTOCOL and PROVISION_SCHOOLS in the
environment. It must not touch anything but its source and its working directory.
"""
import argparse
import csv
import datetime
import json
import os
import sys
from collections import Counter

PLUGIN = "example-python-csv"


def iso_date(text):
    """dd/mm/yyyy -> YYYY-MM-DD, or raise ValueError."""
    return datetime.datetime.strptime(text.strip(), "%d/%m/%Y").date().isoformat()


def csv_files(source):
    if os.path.isdir(source):
        for name in sorted(os.listdir(source)):
            if name.lower().endswith(".csv"):
                yield os.path.join(source, name)
    else:
        yield source


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    args = parser.parse_args()

    counts = Counter()

    def emit(record):
        if record["type"] not in ("header", "end"):
            counts[record["type"]] += 1
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")

    emit({"type": "header", "protocol": 1, "plugin": PLUGIN, "source_kind": "snapshot"})
    for path in csv_files(args.source):
        name = os.path.basename(path)
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                ref = f"{name}:{csv_reader_line(handle)}"
                try:
                    pupil = {
                        "type": "pupil",
                        "school_urn": row["school_urn"].strip(),
                        "upn": row["upn"].strip(),
                        "surname": row["surname"].strip(),
                        "forename": row["forename"].strip(),
                        "dob": iso_date(row["dob"]),
                        "year_group": row["year_group"].strip(),
                        "sen_provision": (row.get("sen_provision") or "N").strip() or "N",
                    }
                    assessment = None
                    if (row.get("reading_age_months") or "").strip():
                        assessment = {
                            "type": "assessment",
                            "school_urn": pupil["school_urn"],
                            "upn": pupil["upn"],
                            "instrument": "Salford",
                            "subject": "reading",
                            "measure": "age_months",
                            "value": float(row["reading_age_months"]),
                            "date": iso_date(row["reading_date"]),
                        }
                except (KeyError, ValueError) as problem:
                    # Say what and where, never the pupil's details.
                    emit({"type": "error", "message": f"cannot read row: {type(problem).__name__} {problem}", "ref": ref})
                    continue
                emit(pupil)
                if assessment:
                    emit(assessment)
    emit({"type": "end", "counts": dict(counts)})
    print(f"{PLUGIN}: done, {sum(counts.values())} records", file=sys.stderr)


def csv_reader_line(handle):
    # The file position is not a line number; keep refs simple and stable instead.
    return "row"


if __name__ == "__main__":
    main()
