// One generic call (@alicloud/openapi-client callApi, ACS3-HMAC-SHA256) to a team's own API,
// as a Node.js application makes it. Reads its setting as JSON on stdin; prints one JSON
// object: {"status": ..., "body": ...} or {"status": ..., "code": ...} for a refusal.
'use strict';

const OpenApi = require('@alicloud/openapi-client');
const Util = require('@alicloud/tea-util');
const Credential = require('@alicloud/credentials');

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const s = JSON.parse(Buffer.concat(chunks).toString());
  const config = new OpenApi.Config({ endpoint: s.endpoint, protocol: 'http' });
  if (s.token) {
    config.credential = new Credential.default(new Credential.Config({
      type: 'sts',
      accessKeyId: s.accessKeyId,
      accessKeySecret: s.secret,
      securityToken: s.token,
    }));
  } else {
    config.accessKeyId = s.accessKeyId;
    config.accessKeySecret = s.secret;
  }
  const client = new OpenApi.default(config);
  const params = new OpenApi.Params({
    action: s.action,
    version: s.version,
    protocol: 'HTTP',
    pathname: s.path,
    method: s.method,
    authType: 'AK',
    style: 'ROA',
    reqBodyType: 'json',
    bodyType: 'json',
  });
  const request = new OpenApi.OpenApiRequest({ body: s.body === undefined ? undefined : s.body });
  try {
    const answer = await client.callApi(params, request, new Util.RuntimeOptions({}));
    process.stdout.write(JSON.stringify({ status: answer.statusCode, body: answer.body }));
  } catch (refused) {
    const status = (refused.data && refused.data.statusCode) || refused.statusCode || 0;
    process.stdout.write(JSON.stringify({ status, code: refused.code }));
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
