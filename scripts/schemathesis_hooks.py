"""schemathesis hooks for scripts/schemathesis.sh (named in scripts/schemathesis.toml).

An upload's chunk (`PATCH /api/v1/uploads/{id}`) is `application/offset+octet-stream`, the
tus protocol's media type for raw bytes; schemathesis knows no serializer for it and
would skip the operation, so it sends those bodies as it sends `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
