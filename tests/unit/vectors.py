"""Signature vectors: requests the official SDKs signed (captured in the wire reference, section 12)
with the dummy secret below, exactly as they came off the wire."""

from __future__ import annotations

SECRET = "dummySecretForTestsOnly123456"
AK = "LTAI5tDummyAccessKeyId01"

V3_HEADERS_COMMON = [
    ("Accept-Encoding", "identity"),
    ("host", "127.0.0.1:43873"),
    ("x-acs-version", "2019-08-15"),
]

VECTORS = [
    {
        "name": "tea V3 ListAccessKeysInRecycleBin",
        "method": "POST",
        "target": "/?UserId=200000000000000001",
        "headers": [
            *V3_HEADERS_COMMON,
            ("x-acs-action", "ListAccessKeysInRecycleBin"),
            ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
            ("x-acs-date", "2026-11-23T14:02:35Z"),
            ("x-acs-signature-nonce", "995a6cf578014eb1f478c805b5043b36"),
            ("accept", "application/json"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("x-acs-credentials-provider", "static_ak"),
            (
                "Authorization",
                "ACS3-HMAC-SHA256 Credential=LTAI5tDummyAccessKeyId01,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=72b7334b76f665a80cf1b14635abbb776bce34e6fdd2c731b463edd74734ed9b",
            ),
        ],
        "body": b"",
    },
    {
        "name": "tea V3 CreateAccessKey with a space and a plus",
        "method": "POST",
        "target": "/?UserPrincipalName=alice+test%2B1%40example.onaliyun.com",
        "headers": [
            *V3_HEADERS_COMMON,
            ("x-acs-action", "CreateAccessKey"),
            ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
            ("x-acs-date", "2026-11-23T14:02:35Z"),
            ("x-acs-signature-nonce", "dcabf2cade3f09e8a35a89cf6ecab052"),
            ("accept", "application/json"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("x-acs-credentials-provider", "static_ak"),
            (
                "Authorization",
                "ACS3-HMAC-SHA256 Credential=LTAI5tDummyAccessKeyId01,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=627e1a90777eab6020d1df64f771fc3406e4ebaa4c1117985766f2948ef901d8",
            ),
        ],
        "body": b"",
    },
    {
        "name": "tea v2 ListAccessKeysInRecycleBin",
        "method": "POST",
        "target": "/?Action=ListAccessKeysInRecycleBin&Format=json&Version=2019-08-15&Timestamp=2026-11-23T14%3A02%3A36Z&SignatureNonce=b4b9cf48d013ada423bd62c2d0467e2f&UserId=200000000000000001&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tDummyAccessKeyId01&Signature=wAvVrK%2BufA8y7LmkZO8U2I%2B98fE%3D",
        "headers": [
            ("host", "127.0.0.1:43873"),
            ("x-acs-action", "ListAccessKeysInRecycleBin"),
            ("x-acs-version", "2019-08-15"),
        ],
        "body": b"",
    },
    {
        "name": "tea v2 CreateAccessKey with a space and a plus",
        "method": "POST",
        "target": "/?Action=CreateAccessKey&Format=json&Version=2019-08-15&Timestamp=2026-11-23T14%3A02%3A36Z&SignatureNonce=1716edde7d1832cb006b74ff2a6795b3&UserPrincipalName=alice+test%2B1%40example.onaliyun.com&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tDummyAccessKeyId01&Signature=4uioQuDoUhuDBfd%2BGavxYLG4RTc%3D",
        "headers": [
            ("host", "127.0.0.1:43873"),
            ("x-acs-action", "CreateAccessKey"),
            ("x-acs-version", "2019-08-15"),
        ],
        "body": b"",
    },
    {
        "name": "legacy aliyunsdkram CreateAccessKey",
        "method": "POST",
        "target": "/?UserName=alice%20test&Version=2015-05-01&Action=CreateAccessKey&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T14%3A02%3A36Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=274fe1914b2978ac08c5fe9543d5f3fd&AccessKeyId=LTAI5tDummyAccessKeyId01&Signature=mvuXDQAAsxHIfgJiBVuJoQLSPMM%3D",
        "headers": [
            ("Host", "127.0.0.1:44077"),
            ("x-acs-action", "CreateAccessKey"),
            ("x-acs-version", "2015-05-01"),
        ],
        "body": b"",
    },
    {
        "name": "legacy CommonRequest IMS CreateAccessKey with a signed form body",
        "method": "POST",
        "target": "/?Version=2019-08-15&Action=CreateAccessKey&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T14%3A02%3A36Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=9210f23b694da7e522b7fffed55f6197&AccessKeyId=LTAI5tDummyAccessKeyId01&Signature=ZQIx6TiTjrce9%2FuY4X7gzORmLIA%3D",
        "headers": [
            ("Host", "127.0.0.1:44077"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("x-acs-action", "CreateAccessKey"),
            ("x-acs-version", "2019-08-15"),
        ],
        "body": b"UserPrincipalName=alice%40x.onaliyun.com",
    },
]
