#!/usr/bin/env node
// Policy judge for session-revoker's tests (DESIGN.md "Tests, in layers" 6, issue 12).
//
// A long-running process: one JSON request per line on stdin, one JSON verdict per line on stdout,
// in the same order. It evaluates the request with @cloud-copilot/iam-simulate (pinned in
// package.json / package-lock.json; AGPL-3.0, run as a separate process, never bundled).
//
// Request (one line):
//   {"id": any (optional, echoed back),
//    "identityPolicies": [<policy document object> | <policy JSON string> | {"name": "...", "policy": <doc>}...],
//    "action": "s3:GetObject",
//    "resource": "arn:aws:s3:::bucket/key",            (use "*" for wildcard-only actions)
//    "principal": "arn:aws:sts::123456789012:assumed-role/R/s",
//    "accountId": "123456789012"                         (optional: the resource's account;
//                                                        default: the principal's account)
//    "context": {"aws:TokenIssueTime": "2026-01-01T00:00:00Z", "aws:userid": "AROA...:s", ...},
//    "sessionPolicy": <doc> (optional: the session policy of a role or federated-user session, e.g. the
//                     Policy passed to GetFederationToken; only for assumed-role / federated-user principals)}
//
// Verdict (one line):
//   {"id": ..., "result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "Error",
//    "error": null | "<message>",
//    "ignoredContextKeys": [...],   context keys iam-simulate dropped as not applicable to the action:
//                                   a non-empty list here usually means the request did not say what
//                                   the caller thinks it said
//    "deniedBy": [{"policy": "<name>", "sid": "<Sid or null>"}...]}   the matching Deny statements
//
// Strict simulation mode: the request is evaluated exactly as supplied. A key that is absent from
// "context" is absent from the request (for example a long-term access key has no aws:TokenIssueTime),
// so a DateLessThan on it does not match, as in IAM.
//
// Usage: node tools/iam-judge/judge.mjs   (after `npm ci` in tools/iam-judge)
import { createInterface } from 'node:readline';
import { runSimulation } from '@cloud-copilot/iam-simulate';

function accountOf(arn) {
  const parts = typeof arn === 'string' ? arn.split(':') : [];
  return parts.length >= 5 && /^\d{12}$/.test(parts[4]) ? parts[4] : undefined;
}

function normalizePolicies(list) {
  if (!Array.isArray(list)) throw new Error('identityPolicies must be an array');
  return list.map((item, i) => {
    let name = `policy${i}`;
    let doc = item;
    if (item && typeof item === 'object' && !Array.isArray(item) && 'policy' in item && !('Statement' in item)) {
      name = item.name ?? name;
      doc = item.policy;
    }
    if (typeof doc === 'string') doc = JSON.parse(doc);
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new Error(`identityPolicies[${i}] is not a policy document`);
    }
    return { name, policy: doc };
  });
}

function deniedBy(analysis) {
  const statements = analysis?.identityAnalysis?.denyStatements ?? [];
  return statements.map((s) => ({ policy: s.policyId ?? null, sid: s.statement?.sid?.() ?? s.statement?.Sid ?? null }));
}

function collectDenied(response) {
  if (response.resultType === 'single') return deniedBy(response.result.analysis);
  if (response.resultType === 'wildcard') return response.results.flatMap((r) => deniedBy(r.analysis));
  return [];
}

function collectIgnored(response) {
  if (response.resultType === 'single') return response.result.ignoredContextKeys ?? [];
  if (response.resultType === 'wildcard') {
    return [...new Set(response.results.flatMap((r) => r.ignoredContextKeys ?? []))];
  }
  return [];
}

export async function judge(request) {
  const principal = request.principal;
  if (typeof principal !== 'string') throw new Error('principal must be an ARN string');
  if (typeof request.action !== 'string') throw new Error('action must be a string such as s3:GetObject');
  if (typeof request.resource !== 'string') throw new Error('resource must be an ARN string or "*"');
  const accountId = request.accountId ?? accountOf(request.resource) ?? accountOf(principal);
  if (!accountId) throw new Error('accountId: not given and not derivable from resource or principal');
  const context = request.context ?? {};
  if (typeof context !== 'object' || Array.isArray(context)) throw new Error('context must be an object');
  const simulation = {
    request: {
      principal,
      action: request.action,
      resource: { resource: request.resource, accountId },
      contextVariables: context,
    },
    identityPolicies: normalizePolicies(request.identityPolicies ?? []),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (request.resourcePolicy) simulation.resourcePolicy = request.resourcePolicy;
  if (request.sessionPolicy) {
    simulation.sessionPolicy =
      typeof request.sessionPolicy === 'string' ? JSON.parse(request.sessionPolicy) : request.sessionPolicy;
  }
  const response = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (response.resultType === 'error') {
    return { result: 'Error', error: JSON.stringify(response.errors), ignoredContextKeys: [], deniedBy: [] };
  }
  return {
    result: response.overallResult,
    error: null,
    ignoredContextKeys: collectIgnored(response),
    deniedBy: collectDenied(response),
  };
}

async function main() {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let id = null;
    let verdict;
    try {
      const request = JSON.parse(line);
      id = request.id ?? null;
      verdict = await judge(request);
    } catch (e) {
      verdict = { result: 'Error', error: String(e?.message ?? e), ignoredContextKeys: [], deniedBy: [] };
    }
    const out = JSON.stringify({ id, ...verdict }) + '\n';
    if (!process.stdout.write(out)) {
      await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/judge.mjs')) {
  main().catch((e) => {
    process.stderr.write(`iam-judge: ${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
