#!/usr/bin/env python3
"""Independent cross-check for the Swift AAMVA DL/ID barcode parser (age_verification plugin).

This script runs each sample barcode text through the PyPI package `aamva-parser`
(`pip install aamva-parser`, import name `aamva_parser`). That package shares no code with
our Swift parser, so its answers give a second opinion to compare against in tests.

Usage: python3 aamva_reference.py DIR
For every DIR/*.txt (sorted by name) it prints one JSON object per line:
  {"file": NAME, "dob": "YYYY-MM-DD"|null, "expiry": "YYYY-MM-DD"|null,
   "version": int|null, "error": str|null}

Decoding: the samples hold the real control characters (LF 0x0A, RS 0x1E, CR 0x0D), not
textual escapes such as "\\n", so the bytes are decoded as UTF-8 and only a leading BOM is
dropped ("utf-8-sig"). Nothing else is changed: the package itself removes RS and CR, splits
on LF and trims each line. "error" is set only when decoding or the package raises; the
package never reports bad data itself, it just leaves fields as None (for example dates it
cannot read as MMDDCCYY). Exit code: 0 even when some files fail, 2 if the package is missing.
"""

import json
import sys
from pathlib import Path

try:
    from aamva_parser import LicenseParser
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"aamva_reference: cannot import aamva_parser ({exc}); run: pip install aamva-parser",
          file=sys.stderr)
    sys.exit(2)


def _day(value):
    return value.date().isoformat() if value is not None else None


def reference(path):
    row = {"file": path.name, "dob": None, "expiry": None, "version": None, "error": None}
    try:
        lic = LicenseParser(path.read_bytes().decode("utf-8-sig")).parse()
        row["dob"] = _day(lic.date_of_birth)
        row["expiry"] = _day(lic.expiration_date)
        row["version"] = int(lic.version) if lic.version and lic.version.isdigit() else None
    except Exception as exc:  # one bad file must not stop the run
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def main(argv):
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print("usage: python3 aamva_reference.py DIR", file=sys.stderr)
        return 1
    for path in sorted(Path(argv[1]).glob("*.txt"), key=lambda p: p.name):
        print(json.dumps(reference(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
