"""Esri's own ArcGIS API for Python against portal-sim.

A simulator Esri's client cannot use is not a faithful one (issue 16). This script signs in with
`arcgis.gis.GIS` as an administrator would, searches the users (`gis.users.search`, which asks
`community/users?q=accountid:<org id> ...`) and adds a 12 MB file to the root folder
(`Folder.add`, which above 5 MB uploads in parts: `addItem` with `multipart` and `fileName`,
`addPart` with `partNum` in the query string, an asynchronous `commit`, then polls the item's
`status`). It then reads the file back and compares its bytes.

Usage: python esri_client_check.py PORTAL_URL USERNAME  (password in ESRI_CHECK_PASSWORD, never
an argument). Prints one JSON line with what it saw; exits non-zero on any mismatch.
Run by crates/portal-sim/tests/sim/esri_client.rs when the `arcgis` package is installed.
"""

import hashlib
import json
import os
import sys
import tempfile

SIZE = 12 * 1024 * 1024


def main() -> int:
    portal_url, username = sys.argv[1], sys.argv[2]
    password = os.environ["ESRI_CHECK_PASSWORD"]
    from arcgis.gis import GIS

    gis = GIS(portal_url, username, password, verify_cert=False)
    users = gis.users.search(max_users=1000)
    names = sorted(u.username for u in users)
    if username not in names:
        print(json.dumps({"error": "the signed-in user is not among the searched users", "users": names}))
        return 1

    data = bytes((i * 7 + i // 4096) % 251 for i in range(SIZE))
    want = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "esri-client-check.pdf")
        with open(path, "wb") as f:
            f.write(data)
        folder = gis.content.folders.get()
        job = folder.add(item_properties={"title": "Esri client check", "type": "PDF", "tags": "check"}, file=path)
        item = job.result() if hasattr(job, "result") else job
        got_path = item.download(save_path=tmp, file_name="back.pdf")
        with open(got_path, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
    ok = got == want
    print(json.dumps({"users": len(names), "item": item.id, "size": SIZE, "same_bytes": ok}))
    item.delete()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
