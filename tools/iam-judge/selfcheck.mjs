#!/usr/bin/env node
// Self-check of the policy judge: starts judge.mjs as a child process (the same line protocol the Rust
// tests use) and asserts the facts DESIGN.md "Tests, in layers" 6 relies on. Exit 0 when all hold.
// Usage: node tools/iam-judge/selfcheck.mjs   (after `npm ci` in tools/iam-judge)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const child = spawn(process.execPath, [join(here, 'judge.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
let nextId = 0;
async function ask(request) {
  const id = ++nextId;
  child.stdin.write(JSON.stringify({ id, ...request }) + '\n');
  const { value, done } = await lines.next();
  if (done) throw new Error('judge exited');
  const verdict = JSON.parse(value);
  if (verdict.id !== id) throw new Error(`verdict for ${verdict.id}, expected ${id}`);
  return verdict;
}

const ACCOUNT = '123456789012';
const ROLE_ID = 'AROAEXAMPLEROLEID0001';
const T = '2026-11-22T03:00:30Z'; // the cutoff
const BEFORE = '2026-11-22T03:00:29Z'; // T - 1 s
const AFTER = '2026-11-22T03:00:31Z'; // T + 1 s
const NOW = '2026-11-22T03:05:00Z';

const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
// The console's AWSRevokeOlderSessions, byte for byte what session-revoker writes.
const consoleDeny = JSON.parse(
  `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],` +
    `"Condition":{"DateLessThan":{"aws:TokenIssueTime":"${T}"}}}]}`,
);
// SessionRevokerDenyStolenSessions: one statement per stolen session.
const sessionDeny = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'StolenSession1',
      Effect: 'Deny',
      Action: ['*'],
      Resource: ['*'],
      Condition: { DateLessThan: { 'aws:TokenIssueTime': T }, StringEquals: { 'aws:userid': `${ROLE_ID}:keith` } },
    },
  ],
};
// A decoy planted by the attacker under the console's policy name: looks like a revocation, denies nothing used.
const decoy = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Deny', Action: 'ec2:None', Resource: '*', Condition: { DateLessThan: { 'aws:TokenIssueTime': T } } },
  ],
};

function roleRequest(session, issued, policies, action = 's3:GetObject', resource = 'arn:aws:s3:::bucket/key') {
  const context = { 'aws:userid': `${ROLE_ID}:${session}`, 'aws:CurrentTime': NOW };
  if (issued) context['aws:TokenIssueTime'] = issued;
  return {
    identityPolicies: policies,
    action,
    resource,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/R/${session}`,
    context,
  };
}

let failures = 0;
async function check(name, request, expected) {
  const v = await ask(request);
  const ok = v.result === expected && v.error === null && v.ignoredContextKeys.length === 0;
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${v.result}${ok ? '' : ` (expected ${expected}) ${JSON.stringify(v)}`}`);
}

try {
  await check('allow-all alone', roleRequest('s', BEFORE, [allowAll]), 'Allowed');
  await check('no policy at all', roleRequest('s', BEFORE, []), 'ImplicitlyDenied');
  await check('console deny, issued T-1s', roleRequest('s', BEFORE, [allowAll, consoleDeny]), 'ExplicitlyDenied');
  await check('console deny, issued T+1s', roleRequest('s', AFTER, [allowAll, consoleDeny]), 'Allowed');
  await check('console deny, issued exactly T (DateLessThan is strict)', roleRequest('s', T, [allowAll, consoleDeny]), 'Allowed');
  await check('console deny, milliseconds in the token time', roleRequest('s', '2026-11-22T03:00:29.999Z', [allowAll, consoleDeny]), 'ExplicitlyDenied');
  await check('console deny on a wildcard-only action (iam:ListRoles)', roleRequest('s', BEFORE, [allowAll, consoleDeny], 'iam:ListRoles', '*'), 'ExplicitlyDenied');
  await check('console deny, policies given as JSON strings', roleRequest('s', BEFORE, [JSON.stringify(allowAll), JSON.stringify(consoleDeny)]), 'ExplicitlyDenied');
  await check('session deny, keith issued T-1s', roleRequest('keith', BEFORE, [allowAll, sessionDeny]), 'ExplicitlyDenied');
  await check('session deny, keith issued T+1s', roleRequest('keith', AFTER, [allowAll, sessionDeny]), 'Allowed');
  await check('session deny, bob issued T-1s', roleRequest('bob', BEFORE, [allowAll, sessionDeny]), 'Allowed');
  await check('session deny, mary issued T-1s', roleRequest('mary', BEFORE, [allowAll, sessionDeny]), 'Allowed');
  await check('session deny, aws:userid differs only in case', roleRequest('KEITH', BEFORE, [allowAll, sessionDeny]), 'Allowed');
  await check(
    'console deny, long-term key (no aws:TokenIssueTime)',
    {
      identityPolicies: [allowAll, consoleDeny],
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::bucket/key',
      principal: `arn:aws:iam::${ACCOUNT}:user/U`,
      context: { 'aws:userid': 'AIDAEXAMPLEUSERID0001', 'aws:CurrentTime': NOW },
    },
    'Allowed',
  );
  const federated = (issued) => ({
    identityPolicies: [allowAll, consoleDeny],
    sessionPolicy: allowAll,
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::bucket/key',
    principal: `arn:aws:sts::${ACCOUNT}:federated-user/fed`,
    context: { 'aws:TokenIssueTime': issued, 'aws:userid': `${ACCOUNT}:fed`, 'aws:CurrentTime': NOW },
  });
  await check("GetFederationToken session (user's deny, allow-all session policy), issued T-1s", federated(BEFORE), 'ExplicitlyDenied');
  await check("GetFederationToken session (user's deny, allow-all session policy), issued T+1s", federated(AFTER), 'Allowed');
  await check('decoy Action ec2:None, stolen token', roleRequest('s', BEFORE, [allowAll, decoy]), 'Allowed');
  // Malformed input comes back as an Error verdict, the judge keeps serving.
  const bad = await ask({ identityPolicies: [allowAll], action: 'nosuch:Thing', resource: '*', principal: `arn:aws:iam::${ACCOUNT}:user/U`, context: {} });
  if (bad.result !== 'Error' || !bad.error) failures++;
  console.log(`${bad.result === 'Error' ? 'ok  ' : 'FAIL'} unknown action gives an Error verdict: ${bad.error}`);
  await check('still serving after an error', roleRequest('s', AFTER, [allowAll, consoleDeny]), 'Allowed');
} finally {
  child.stdin.end();
}
const code = await new Promise((resolve) => child.on('close', resolve));
if (code !== 0) {
  console.log(`FAIL judge exited with ${code}`);
  failures++;
}
console.log(failures === 0 ? 'iam-judge selfcheck: all passed' : `iam-judge selfcheck: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
