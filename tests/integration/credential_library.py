"""The vendor's credential library (alibabacloud-credentials) driving an IMS and an STS client
with its RAM-role-ARN provider, in a process of its own: the test runs it under libfaketime
with the server's clock file, so that moving the clock moves both sides (the library decides
when to refresh from its own clock, the server decides expiry from its own).

Reads its setting as JSON on stdin; prints one JSON object: what it saw at each moment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    from alibabacloud_credentials.client import Client as Credentials
    from alibabacloud_credentials.models import Config as CredentialConfig
    from alibabacloud_ims20190815 import models
    from alibabacloud_ims20190815.client import Client as Ims
    from alibabacloud_sts20150401.client import Client as Sts
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions
    from Tea.exceptions import TeaException

    setting = json.load(sys.stdin)
    clock = Path(setting["clock"])
    credential = Credentials(
        CredentialConfig(
            type="ram_role_arn",
            access_key_id=setting["access_key_id"],
            access_key_secret=setting["access_key_secret"],
            role_arn=setting["role_arn"],
            role_session_name="library",
            role_session_expiration=3600,
            policy=setting["policy"],
            external_id=setting["external_id"],
            # The library always calls https://<sts_endpoint>/, trusting the CA bundle
            # (SSL_CERT_FILE here; certifi's roots stay trusted too).
            sts_endpoint=setting["endpoint"],
        )
    )
    config = Config(credential=credential, endpoint=setting["endpoint"], protocol="https")
    runtime = RuntimeOptions(ca=setting["ca"])
    ims, sts = Ims(config), Sts(config)

    def refusal(client: Any, call: str, *args: Any) -> str:
        try:
            getattr(client, call)(*args, runtime)
        except TeaException as refused:
            return f"{refused.data.get('statusCode')} {refused.code}"
        return "allowed"

    def moment(offset: str) -> dict[str, Any]:
        clock.write_text(offset + "\n")  # libfaketime reads it at every clock call
        key = credential.get_credential()
        users = ims.list_users_with_options(models.ListUsersRequest(), runtime).body
        caller = sts.get_caller_identity_with_options(runtime).body
        return {
            "offset": offset,
            "access_key_id": key.access_key_id,
            "secret": key.access_key_secret,
            "token": key.security_token,
            "users": [u.user_principal_name for u in users.users.user],
            "arn": caller.arn,
            "identity_type": caller.identity_type,
            # The session policy (sent with spaces, signed as "+") narrows the role.
            "get_user": refusal(
                ims,
                "get_user_with_options",
                models.GetUserRequest(user_principal_name=users.users.user[0].user_principal_name),
            ),
        }

    seen = [moment("+0"), moment("+50m")]  # past the library's refresh time, before expiry
    late = seen[0]
    expired = Ims(
        Config(
            access_key_id=late["access_key_id"],
            access_key_secret=late["secret"],
            security_token=late["token"],
            endpoint=setting["endpoint"],
            protocol="https",
        )
    )
    clock.write_text("+61m\n")  # the first credential has expired; the second has not
    first_after_expiry = refusal(expired, "list_users_with_options", models.ListUsersRequest())
    seen.append(moment("+61m"))
    for s in seen:
        del s["secret"], s["token"]
    print(json.dumps({"moments": seen, "first_after_expiry": first_after_expiry}))


if __name__ == "__main__":
    main()
