"""schemathesis hooks for scripts/schemathesis.sh (named in scripts/schemathesis.toml).

An upload's chunk (`PATCH /api/v1/uploads/{id}`) is `application/offset+octet-stream`, the
tus protocol's media type for raw bytes; schemathesis knows no serializer for it and
would skip the operation, so it sends those bodies as it sends `application/octet-stream`.

A few requests the document allows are refused with 400 by rules no OpenAPI document can
state: they depend on who asks, relate two query parameters, or depend on what the server
holds. And a 404 may name something the request refers to
rather than the resource its path names, which schemathesis takes for a resource it just
created gone missing. `filter_failure` drops those failures, each answer named by its
message; any other failure still fails the run, and the summary counts what was dropped.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# (operation, message of the 400 `invalid_request`): why the document cannot say it.
UNSTATABLE = {
    # The caller's own id is as well-formed as anyone's.
    ("PUT /api/v1/blocks/{user_id}", "you cannot block yourself"),
    ("POST /api/v1/reports", "you cannot report yourself"),
    ("POST /api/v1/conversations", "you cannot start a direct conversation with yourself"),
    # OpenAPI has no way to say that two optional parameters exclude each other.
    ("GET /api/v1/conversations/{id}/messages", "give `after_seq` or `before_seq`, not both"),
    # What an id names: a finished, unsent upload of the caller's, or a message rather than
    # a change, is the server's state, not the request's shape.
    (
        "POST /api/v1/conversations/{id}/messages",
        "an attachment names no finished upload of yours, or one already sent",
    ),
    ("POST /api/v1/conversations/{id}/messages", "the message named is a change, not a message"),
    # A mailed token is good or not by what the server issued, used and let expire.
    ("POST /api/v1/auth/email/verify", "this link is unknown, used or expired; ask for a new one"),
    ("POST /api/v1/auth/password/reset", "this link is unknown, used or expired; ask for a new one"),
    # Names and logins are counted after trimming and refused with control characters, and
    # an address is what lettre's grammar accepts: more than a length or a pattern says.
    ("PATCH /api/v1/me", "display name must be 1 to 64 characters"),
    ("PATCH /api/v1/me", "a display name cannot hold control characters"),
    ("POST /api/v1/auth/register", "display name must be 1 to 64 characters"),
    ("POST /api/v1/auth/register", "a display name cannot hold control characters"),
    ("POST /api/v1/auth/register", "a device name cannot hold control characters"),
    ("POST /api/v1/auth/login", "a device name cannot hold control characters"),
    ("POST /api/v1/auth/password/forgot", "give a username or an email address"),
    ("POST /api/v1/auth/register", "that is not an email address"),
    ("PUT /api/v1/account/email", "that is not an email address"),
    # The run's server has no mail configured, which the document cannot know.
    (
        "POST /api/v1/auth/password/forgot",
        "this server sends no mail (no FERRY_SMTP_URL); ask its operator to reset your password",
    ),
    (
        "PUT /api/v1/account/email",
        "this server sends no mail (no FERRY_SMTP_URL), so it cannot confirm an address",
    ),
    (
        "POST /api/v1/auth/register",
        "this server sends no mail (no FERRY_SMTP_URL), so it cannot confirm an address",
    ),
    # The run's user is an administrator, and cannot suspend themself.
    ("POST /api/v1/admin/users/{user_id}/suspend", "an administrator cannot suspend themself"),
    ("GET /api/v1/admin/users", "a search cannot hold control characters"),
    # Whether an upload is whole, and an image this server reads, is the server's state.
    ("PUT /api/v1/me/picture", "the upload is not finished: send all of its bytes first"),
    (
        "PUT /api/v1/me/picture",
        "a picture must be an image this server can read (JPEG, PNG, GIF or WebP, at most 32 MB)",
    ),
}

# An operator's reason or note is counted after trimming and refused with control
# characters (tab and line breaks aside): more than a length says.
for _operation in (
    "POST /api/v1/admin/users/{user_id}/suspend",
    "POST /api/v1/admin/users/{user_id}/reactivate",
    "POST /api/v1/admin/reports/{report_id}/decision",
    "POST /api/v1/admin/messages/{message_id}/remove",
    "PUT /api/v1/admin/conversations/{conversation_id}/retention",
):
    UNSTATABLE.add((_operation, "say why: the reason is empty"))
    UNSTATABLE.add(
        (_operation, "a reason holds a control character (only tab and line breaks are allowed)")
    )

# What MLS bytes hold (a key package signed by the caller's own device, a commit of this
# conversation's group in its current epoch, a welcome for members' devices) is
# cryptography and the server's state; a document can only say "base64". Each of these
# refusals begins with what it refuses, and goes on with the decoder's words.
UNSTATABLE_PREFIXES = {
    "POST /api/v1/mls/key-packages": (
        "a key package does not decode",
        "a key package is not valid",
        "a key package must",
        "a device has one last-resort key package",
    ),
    # A sealed message: what its bytes hold, and whether the conversation is encrypted
    # (the server's state), beside the rule that its text stays inside (a cross-field rule).
    "POST /api/v1/conversations/{id}/messages": (
        "the sealed message ",
        "a sealed message ",
        "this conversation is end-to-end encrypted",
        "this conversation is not end-to-end encrypted",
    ),
    "POST /api/v1/conversations/{id}/mls/commits": (
        "the commit ",
        "the group info ",
        "the welcome ",
        "a welcome must use",
    ),
}


# 404 messages about something other than what the path names: a conversation just
# created is there when the message a reply or change names, or the member to remove, is
# not (ST302, "created resource not found").
NOT_THE_PATH = {
    "the message named is not in this conversation",
    "member not found",
}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False (drop) only for the answers listed above."""
    # The admin API hides itself from a request without a good token behind the 404 of
    # an unknown address (docs/protocol.md, "Administration"), where ST401 and ST203 want
    # 401 and ST204 405. (The response handed here may be the signed-in one, so the
    # failure's own words tell.)
    admin = failure.operation.split(" ", 1)[-1].startswith("/api/v1/admin/")
    if admin and failure.code == "ST401" and "got `404 Not Found`" in failure.message:
        return False
    if admin and failure.code == "ST203" and "Got 404 when missing required" in failure.message:
        return False
    # Nor does it tell which methods its addresses take (ST204 wants 405).
    if admin and failure.code == "ST204" and "returned 404" in failure.message:
        return False
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return True
    # A link schemathesis infers from a field that was null (a report without a
    # conversation) fills a path with the text `None`: no client would send that.
    if failure.code == "ST202" and "/None" in response.request.url:
        return False
    if (
        failure.code == "ST202"
        and response.status_code == 400
        and error.get("code") == "invalid_request"
        and str(error.get("message", "")).startswith(
            UNSTATABLE_PREFIXES.get(failure.operation, ())
        )
    ):
        return False
    if failure.code == "ST202" and response.status_code == 400:
        return error.get("code") != "invalid_request" or (
            failure.operation,
            error.get("message"),
        ) not in UNSTATABLE
    if failure.code == "ST302" and response.status_code == 404:
        return error.get("code") != "not_found" or error.get("message") not in NOT_THE_PATH
    return True
