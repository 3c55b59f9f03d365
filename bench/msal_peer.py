#!/usr/bin/env python3
"""The peer in entra-token's benchmark (bench/bench.py): an app-only token with MSAL Python, the
library under the Azure CLI, against any authority base URL over HTTPS (MSAL refuses plain http),
e.g. the entra-token emulator started with --tls (export SSL_CERT_FILE/REQUESTS_CA_BUNDLE to its CA).

usage: bench/msal_peer.py AUTHORITY_BASE TENANT CLIENT_ID
       the secret comes from AZURE_CLIENT_SECRET, or a PEM (key + certificate) from
       AZURE_CLIENT_CERTIFICATE_PATH; needs `pip install msal msal-extensions cryptography`.
With MSAL_CACHE=PATH it uses msal-extensions' persisted file cache, so a second run is a cache hit.
Prints the access token; exits 3 when none came back."""
import os, sys, msal
base, tenant, client = sys.argv[1:4]
cache = None
if os.environ.get("MSAL_CACHE"):
    from msal_extensions import FilePersistence, PersistedTokenCache
    cache = PersistedTokenCache(FilePersistence(os.environ["MSAL_CACHE"]))
if os.environ.get("AZURE_CLIENT_CERTIFICATE_PATH"):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    pem = open(os.environ["AZURE_CLIENT_CERTIFICATE_PATH"]).read()
    cert = x509.load_pem_x509_certificate(pem.encode())
    cred = {"private_key": pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
else:
    cred = os.environ["AZURE_CLIENT_SECRET"]
app = msal.ConfidentialClientApplication(client, client_credential=cred, authority=f"{base}/{tenant}",
                                         instance_discovery=False, token_cache=cache)
r = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
if "access_token" not in r:
    print(r, file=sys.stderr); sys.exit(3)
print(r["access_token"])
