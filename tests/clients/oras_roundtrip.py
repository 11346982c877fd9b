"""The oras Python SDK (PyPI `oras`) against a registry: push an artifact, push a second one whose
`subject` is the first, and read the referrers of the first back through the referrers API.

Usage: oras_roundtrip.py HOST:PORT REPO WORKDIR. Prints one JSON line: the digests it pushed and
what the referrers API listed. Exits non-zero with the SDK's error on any failure."""

import json
import os
import sys

import oras.client
import oras.oci


def main() -> int:
    host, repo, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.chdir(work)  # the SDK wants the files it pushes under the working directory
    with open("payload.txt", "w") as f:
        f.write("referee oras round trip\n")
    with open("sig.json", "w") as f:
        f.write('{"signed": "payload.txt"}\n')
    client = oras.client.OrasClient(hostname=host, insecure=True)
    target = f"{host}/{repo}:v1"
    pushed = client.push(target=target, files=["payload.txt"], quiet=True)
    subject_digest = pushed.headers.get("Docker-Content-Digest")
    container = client.get_container(target)
    manifest = client.get_manifest(container)
    subject = oras.oci.Subject.from_manifest(manifest)
    sig = client.push(
        target=f"{host}/{repo}:sig",
        files=["sig.json:application/vnd.example.signature.v1+json"],
        subject=subject,
        quiet=True,
    )
    referrers = client.do_request(f"http://{host}/v2/{repo}/referrers/{subject.digest}", "GET")
    print(
        json.dumps(
            {
                "subject_pushed": subject_digest,
                "subject_computed": subject.digest,
                "referrer": sig.headers.get("Docker-Content-Digest"),
                "oci_subject": sig.headers.get("OCI-Subject"),
                "referrers_status": referrers.status_code,
                "referrers": referrers.json(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
