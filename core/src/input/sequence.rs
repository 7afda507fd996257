//! GuardDuty attack sequences (`AttackSequence:IAM/CompromisedCredentials`,
//! `AttackSequence:S3/CompromisedData`, ...): one finding naming many credentials, read into one
//! incident per credential, each then handled exactly like a finding of its own.
//!
//! Shape (GuardDuty API reference "Sequence", "Actor", "User", "Session", "ResourceV2",
//! "AccessKey", "Signal"; the same names in `aws-sdk-guardduty`'s deserializers):
//! `resource.resourceType` is `AttackSequence` and there is no `resource.accessKeyDetails`; the
//! credentials are in `service.detection.sequence`:
//! - `actors[]`: `id`, `user` {`name`, `uid`, `type`, `credentialUid`, `account` {`uid`}},
//!   `session` {`issuer`, ...}. `user.account` is where the activity took place, not necessarily
//!   the account that owns the identity: a role session's owner is read from `session.issuer`
//!   (the role's ARN) when it is one, and a key resource's `accountId` names the key's owner.
//! - `resources[]`: `uid`, `name`, `accountId`, `resourceType` (`ACCESS_KEY`, `S3_BUCKET`, ...),
//!   `data.accessKey` {`principalId`, `userName`, `userType`} (what `accessKeyDetails` holds).
//! - `signals[]`: `uid`, `type`, `name`, `firstSeenAt`, `lastSeenAt`, `count`, `actorIds[]`,
//!   `resourceUids[]`.
//!
//! Each distinct (account, principal, access key) from the actors and the `ACCESS_KEY`
//! resources is one credential; an actor and a resource naming the same access key are one.
//! Its fields are identity fields of its own incident: one unreadable makes that incident (only)
//! unreadable. Names are not validated here: triage and planning validate them exactly as they
//! validate a single finding's. One more incident, the review, is added when the sequence itself
//! needs a person: it names no credential, or the copy read may not name them all (Security
//! Hub keeps at most 10 actors), or it names more than one invocation handles.

use super::finding::{Fields, Unread};
use crate::model::incident::UnreadableField;
use crate::model::{FindingError, Incident, Principal, SequenceLink, SequenceSignal, UserType};
use crate::names;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// GuardDuty's own limits: 400 actors and resources, 100 signals.
const MAX_ACTORS: usize = 400;
const MAX_RESOURCES: usize = 400;
const MAX_SIGNALS: usize = 100;
/// Security Hub's copy (`Detection.Sequence`) keeps at most this many actors.
pub(super) const SECURITY_HUB_MAX_ACTORS: usize = 10;
/// Most credentials of one sequence handled in one invocation; the rest go to the review.
pub(super) const MAX_CREDENTIALS: usize = 50;
/// Most signals listed on the review incident (the credentials' own are all listed).
const MAX_REVIEW_SIGNALS: usize = 20;

const SEQUENCE: [&str; 3] = ["service", "detection", "sequence"];
const PATH: &str = "service.detection.sequence";

/// Which copy of the sequence was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Copy {
    /// GuardDuty's own (events, `get-findings`): every actor.
    GuardDuty,
    /// Security Hub's (ASFF `Detection.Sequence`): at most 10 actors.
    SecurityHub,
}

/// True for an attack sequence: `resource.resourceType` `AttackSequence`, or a
/// `service.detection.sequence` (camelCase finding).
pub(super) fn is_sequence(f: &Map<String, Value>) -> bool {
    let f = Fields(f);
    f.get(&["resource", "resourceType"]).and_then(Value::as_str) == Some("AttackSequence")
        || f.get(&SEQUENCE).is_some_and(|v| !v.is_null())
}

/// One credential the sequence names.
#[derive(Debug, Clone, Default, PartialEq)]
struct Credential {
    account: Option<String>,
    user_type: Option<String>,
    name: Option<String>,
    principal_id: Option<String>,
    access_key_id: Option<String>,
    /// The actor ids and resource uids that name it (signals point at these).
    refs: Vec<String>,
    unreadable: Option<FindingError>,
}

impl Credential {
    fn names_anything(&self) -> bool {
        self.name.is_some() || self.principal_id.is_some() || self.access_key_id.is_some()
    }

    fn same(&self, other: &Credential) -> bool {
        match (&self.access_key_id, &other.access_key_id) {
            (Some(a), Some(b)) => a == b,
            // One names the key, the other only its principal: the same when the principal is.
            (Some(_), None) | (None, Some(_)) => {
                self.principal_id.is_some()
                    && self.principal_id == other.principal_id
                    && (self.account.is_none()
                        || other.account.is_none()
                        || self.account == other.account)
            }
            (None, None) => {
                self.account == other.account
                    && self.principal_id == other.principal_id
                    && self.access_key_id == other.access_key_id
                    && self.name == other.name
                    && self.user_type == other.user_type
            }
        }
    }

    /// Fills what this one lacks from `other` (naming the same key); a key resource's account
    /// is its owner's and wins over an actor's, which is where the activity took place.
    fn join(&mut self, other: Credential, resource_account: bool) {
        if (resource_account && other.account.is_some()) || self.account.is_none() {
            self.account = other.account;
        }
        self.user_type = self.user_type.take().or(other.user_type);
        self.name = self.name.take().or(other.name);
        self.principal_id = self.principal_id.take().or(other.principal_id);
        self.access_key_id = self.access_key_id.take().or(other.access_key_id);
        self.refs.extend(other.refs);
        self.unreadable = self.unreadable.take().or(other.unreadable);
    }
}

/// A signal, with what it points at.
struct Signal {
    signal: SequenceSignal,
    refs: Vec<String>,
}

/// Reads fields of one list entry, naming each problem at its path.
struct Entry<'a> {
    fields: Fields<'a>,
    at: String,
}

impl Entry<'_> {
    fn string(&self, path: &[&str]) -> Result<Option<String>, Unread> {
        self.fields
            .string(path)
            .map_err(|u| u.at(&format!("{}.{}", self.at, path.join("."))))
    }
}

/// The incidents of one attack sequence: `base` (the finding as read, without a principal)
/// once per credential, and the review when one is needed. An unreadable `base` is returned as
/// it is: nothing is decided from it.
pub(super) fn expand(base: Incident, f: &Map<String, Value>, copy: Copy) -> Vec<Incident> {
    if base.unreadable.is_some() {
        return vec![base];
    }
    let mut ignored = Vec::new();
    let fields = Fields(f);
    let sequence = match fields.value(&SEQUENCE) {
        Ok(Some(Value::Object(s))) => s,
        Ok(None) => {
            return vec![review(
                base,
                ignored,
                &[],
                0,
                false,
                format!(
                "the attack sequence has no `{PATH}`: it names no credential this tool can read"
            ),
            )]
        }
        Ok(Some(other)) => {
            ignored.push(Unread::new("an object", other).at(PATH).into_ignored());
            return vec![review(
                base,
                ignored,
                &[],
                0,
                false,
                format!("`{PATH}` could not be read: it names no credential this tool can read"),
            )];
        }
        Err(u) => {
            ignored.push(u.into_ignored());
            return vec![review(
                base,
                ignored,
                &[],
                0,
                false,
                format!("`{PATH}` could not be read: it names no credential this tool can read"),
            )];
        }
    };
    let finding_account = base.account.clone();
    let actors = list(sequence, "actors", MAX_ACTORS, &mut ignored);
    let mut credentials: Vec<Credential> = Vec::new();
    for (i, actor) in actors.iter().enumerate() {
        if let Some(c) = actor_credential(actor, &format!("{PATH}.actors[{i}]"), &mut ignored) {
            add(&mut credentials, c, false);
        }
    }
    let resources = list(sequence, "resources", MAX_RESOURCES, &mut ignored);
    for (i, resource) in resources.iter().enumerate() {
        if let Some(c) = key_resource(resource, &format!("{PATH}.resources[{i}]"), &mut ignored) {
            add(&mut credentials, c, true);
        }
    }
    let signals: Vec<Signal> = list(sequence, "signals", MAX_SIGNALS, &mut ignored)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| signal(s, &format!("{PATH}.signals[{i}]"), &mut ignored))
        .collect();
    let found = credentials.len();
    let more_may_exist = copy == Copy::SecurityHub && actors.len() >= SECURITY_HUB_MAX_ACTORS;
    let mut incidents: Vec<Incident> = credentials
        .into_iter()
        .take(MAX_CREDENTIALS)
        .enumerate()
        .map(|(n, c)| {
            credential_incident(
                &base,
                &ignored,
                c,
                n + 1,
                found,
                more_may_exist,
                &signals,
                &finding_account,
            )
        })
        .collect();
    let why = if found == 0 {
        Some("the attack sequence names no credential this tool can read (no actor with a user, no ACCESS_KEY resource): review its signals".to_string())
    } else if more_may_exist {
        Some(format!(
            "Security Hub's copy of the attack sequence lists {} actors, the most it keeps: GuardDuty's copy may name more credentials than the {found} handled here; read it and hand it to this function",
            actors.len()
        ))
    } else if found > MAX_CREDENTIALS {
        Some(format!(
            "the attack sequence names {found} credentials; the first {MAX_CREDENTIALS} are handled here, the other {} need a person (or another invocation with them)",
            found - MAX_CREDENTIALS
        ))
    } else {
        None
    };
    if let Some(why) = why {
        incidents.push(review(base, ignored, &signals, found, more_may_exist, why));
    }
    incidents
}

fn add(credentials: &mut Vec<Credential>, c: Credential, from_resource: bool) {
    match credentials.iter_mut().find(|k| k.same(&c)) {
        Some(known) => known.join(c, from_resource),
        None => credentials.push(c),
    }
}

#[allow(clippy::too_many_arguments)]
fn credential_incident(
    base: &Incident,
    ignored: &[UnreadableField],
    c: Credential,
    n: usize,
    found: usize,
    more_may_exist: bool,
    signals: &[Signal],
    finding_account: &Option<String>,
) -> Incident {
    let mut incident = base.clone();
    incident.ignored_fields.extend(ignored.iter().cloned());
    incident.account = c.account.clone().or_else(|| finding_account.clone());
    let mine: Vec<SequenceSignal> = signals
        .iter()
        .filter(|s| s.refs.iter().any(|r| c.refs.contains(r)))
        .map(|s| s.signal.clone())
        .collect();
    // Coverage and the follow-up's window are this credential's: its own signals' first and
    // last sighting; the finding's own when no signal names it.
    if let Some(first) = mine.iter().filter_map(|s| s.first_seen).min() {
        incident.event_first_seen = Some(first);
    }
    if let Some(last) = mine.iter().filter_map(|s| s.last_seen).max() {
        incident.event_last_seen = Some(last);
    }
    match c.unreadable {
        Some(e) => incident.unreadable = Some(e),
        None => {
            incident.principal = Principal {
                user_type: UserType::parse(c.user_type.as_deref().unwrap_or("")),
                name: c.name,
                principal_id: c.principal_id,
                access_key_id: c.access_key_id,
            }
        }
    }
    incident.sequence = Some(SequenceLink {
        credentials_found: found,
        credential: Some(n),
        signals: mine,
        more_may_exist,
        review: None,
    });
    incident
}

fn review(
    mut base: Incident,
    ignored: Vec<UnreadableField>,
    signals: &[Signal],
    found: usize,
    more_may_exist: bool,
    why: String,
) -> Incident {
    base.ignored_fields.extend(ignored);
    base.sequence = Some(SequenceLink {
        credentials_found: found,
        credential: None,
        signals: signals
            .iter()
            .take(MAX_REVIEW_SIGNALS)
            .map(|s| s.signal.clone())
            .collect(),
        more_may_exist,
        review: Some(why),
    });
    base
}

/// `sequence.<key>`: an array (at most `max` entries read), else empty and named.
fn list<'a>(
    sequence: &'a Map<String, Value>,
    key: &str,
    max: usize,
    ignored: &mut Vec<UnreadableField>,
) -> &'a [Value] {
    match sequence.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => {
            if a.len() > max {
                ignored.push(UnreadableField {
                    field: format!("{PATH}.{key}"),
                    expected: format!("at most {max} entries"),
                    found: format!("{} entries; the first {max} were read", a.len()),
                });
            }
            &a[..a.len().min(max)]
        }
        Some(other) => {
            ignored.push(
                Unread::new("an array", other)
                    .at(&format!("{PATH}.{key}"))
                    .into_ignored(),
            );
            &[]
        }
    }
}

fn entry<'a>(v: &'a Value, at: &str, ignored: &mut Vec<UnreadableField>) -> Option<Entry<'a>> {
    match v {
        Value::Object(o) => Some(Entry {
            fields: Fields(o),
            at: at.to_string(),
        }),
        Value::Null => None,
        other => {
            ignored.push(Unread::new("an object", other).at(at).into_ignored());
            None
        }
    }
}

/// An actor's credential: its user, the account, and a role session's owner from the issuer.
fn actor_credential(
    actor: &Value,
    at: &str,
    ignored: &mut Vec<UnreadableField>,
) -> Option<Credential> {
    let e = entry(actor, at, ignored)?;
    let mut c = Credential::default();
    match e.string(&["id"]) {
        Ok(Some(id)) => c.refs.push(id),
        Ok(None) => {}
        Err(u) => ignored.push(u.into_ignored()),
    }
    let mut identity = |path: &[&str]| match e.string(path) {
        Ok(v) => v,
        Err(u) => {
            c.unreadable.get_or_insert(u.into_error());
            None
        }
    };
    c.user_type = identity(&["user", "type"]);
    c.name = identity(&["user", "name"]);
    c.principal_id = identity(&["user", "uid"]);
    c.access_key_id = identity(&["user", "credentialUid"]);
    c.account = identity(&["user", "account", "uid"]);
    let issuer = identity(&["session", "issuer"]);
    // A role session: the role and its account are the issuer's (the role's ARN). Never
    // `user.name`, which may be the session name, chosen by whoever assumed the role (a session
    // named like a bystander role must not revoke that role), nor `user.account`, where the
    // activity took place. Without an issuer, the role is found by the RoleId in `user.uid`
    // (`AROA…:session`), or by a key resource naming the same key.
    if matches!(
        UserType::parse(c.user_type.as_deref().unwrap_or("")),
        UserType::AssumedRole | UserType::Role
    ) {
        c.name = None;
        if let Some((account, _, role)) = issuer.as_deref().and_then(names::parse_role_arn) {
            c.account = Some(account);
            c.name = Some(role);
        }
    }
    (c.names_anything() || c.unreadable.is_some()).then_some(c)
}

/// An `ACCESS_KEY` resource's credential (other resource types name no credential).
fn key_resource(
    resource: &Value,
    at: &str,
    ignored: &mut Vec<UnreadableField>,
) -> Option<Credential> {
    let e = entry(resource, at, ignored)?;
    if e.fields.get(&["resourceType"]).and_then(Value::as_str) != Some("ACCESS_KEY") {
        return None;
    }
    let mut c = Credential::default();
    let mut identity = |path: &[&str]| match e.string(path) {
        Ok(v) => v,
        Err(u) => {
            c.unreadable.get_or_insert(u.into_error());
            None
        }
    };
    let uid = identity(&["uid"]);
    let name = identity(&["name"]);
    c.account = identity(&["accountId"]);
    c.principal_id = identity(&["data", "accessKey", "principalId"]);
    c.name = identity(&["data", "accessKey", "userName"]);
    c.user_type = identity(&["data", "accessKey", "userType"]);
    // An access key id is alphanumeric, 16 to 128 characters (`AKIA…`, `ASIA…` in AWS); a
    // `uid` of another form (an ARN) names the resource, not the key.
    let is_key = |k: &String| names::is_unique_id(k, "");
    c.access_key_id = uid
        .clone()
        .filter(is_key)
        .or_else(|| name.clone().filter(is_key));
    c.refs.extend(uid);
    (c.names_anything() || c.unreadable.is_some()).then_some(c)
}

fn signal(v: &Value, at: &str, ignored: &mut Vec<UnreadableField>) -> Option<Signal> {
    let e = entry(v, at, ignored)?;
    fn optional<T>(
        r: Result<Option<T>, Unread>,
        at: &str,
        field: &str,
        ignored: &mut Vec<UnreadableField>,
    ) -> Option<T> {
        r.unwrap_or_else(|u| {
            ignored.push(u.at(&format!("{at}.{field}")).into_ignored());
            None
        })
    }
    let f = &e.fields;
    let name = optional(f.string(&["name"]), at, "name", ignored);
    let kind = optional(f.string(&["type"]), at, "type", ignored);
    let count = optional(f.count(&["count"]), at, "count", ignored);
    let first_seen: Option<OffsetDateTime> =
        optional(f.timestamp(&["firstSeenAt"]), at, "firstSeenAt", ignored);
    let last_seen: Option<OffsetDateTime> =
        optional(f.timestamp(&["lastSeenAt"]), at, "lastSeenAt", ignored);
    let mut refs = Vec::new();
    // GuardDuty's `resourceUids`; Security Hub's `ResourceIds` (camelized).
    for key in ["actorIds", "resourceUids", "resourceIds"] {
        match e.fields.get(&[key]) {
            None | Some(Value::Null) => {}
            Some(Value::Array(ids)) => refs.extend(
                ids.iter()
                    .take(MAX_ACTORS)
                    .filter_map(Value::as_str)
                    .filter(|s| s.len() <= 1024)
                    .map(str::to_string),
            ),
            Some(other) => ignored.push(
                Unread::new("an array of strings", other)
                    .at(&format!("{at}.{key}"))
                    .into_ignored(),
            ),
        }
    }
    Some(Signal {
        signal: SequenceSignal {
            name,
            kind,
            count,
            first_seen,
            last_seen,
        },
        refs,
    })
}

#[cfg(test)]
mod tests;
