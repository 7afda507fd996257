//! Only genuine findings (`VERIFY_FINDINGS=true`): before anything is decided from a finding,
//! GuardDuty's own copy is read by the finding's ARN and the responder acts on that copy; a
//! finding GuardDuty does not know, or whose principal differs, is refused as possibly forged.
//!
//! Anyone allowed to invoke the function can hand it a made-up finding naming any role. The copy
//! is read in the finding's region: first with the responder's own credentials (a GuardDuty
//! administrator reads its members' findings through its own detector), then, for another
//! account's finding that the administrator route did not find or could not read, through the
//! member role (`MEMBER_ROLE_NAME`) with the detector the ARN names. The comparison itself is
//! pure (`revoker_core::verify`).
//!
//! A refusal is one `triage` action with status `failed`: the invocation fails, Lambda retries
//! and the alarm fires, because a refused finding must never look like a success (a genuine
//! finding refused for a transient error is contained on the retry). Nothing is written.
//!
//! Manual requests are not findings and are not verified: they stay possible, and with
//! verification on each of their actions names who asked, as far as Lambda says (`Caller`).

use super::Responder;
use crate::act::Ctx;
use crate::aws::guardduty::Findings;
use crate::error::AwsError;
use crate::model::{ActionKind, ActionOutcome, FindingArn, Incident, Origin, Status, Step, Triage};
use crate::plan;
use crate::text::safe_text;
use revoker_core::verify::{self as judge, NotVerifiable, Verdict};
use std::future::Future;

tokio::task_local! {
    /// Who invoked the function, for the invocation being handled (set by `lambda::handler`).
    static CALLER: Caller;
}

/// Who invoked the function, as far as the invocation context says. Lambda fills the context's
/// `identity` only for callers with Amazon Cognito credentials, and `client_context` only when
/// the caller sends one (the AWS mobile SDKs; `aws lambda invoke --client-context`): a plain
/// `aws lambda invoke`, an EventBridge rule or `cargo lambda invoke` carry neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The Cognito identity Lambda gives (`identity_id`, `identity_pool_id`).
    pub cognito: Option<(String, String)>,
    /// The client context's application, as the caller states it (not checked by Lambda).
    pub client_app: Option<String>,
    /// Lambda's request id: CloudTrail's Lambda data events (where enabled) name its caller.
    pub request_id: Option<String>,
}

impl Caller {
    pub fn from_context(ctx: &lambda_runtime::Context) -> Self {
        Self {
            cognito: ctx
                .identity
                .as_ref()
                .map(|i| (i.identity_id.clone(), i.identity_pool_id.clone())),
            client_app: ctx.client_context.as_ref().map(|c| {
                format!(
                    "{} (installation {})",
                    c.client.app_title, c.client.installation_id
                )
            }),
            request_id: Some(ctx.request_id.clone()).filter(|r| !r.is_empty()),
        }
    }

    /// For the report: every value here may come from the caller, so each is bounded.
    pub fn describe(&self) -> String {
        let request = self
            .request_id
            .as_deref()
            .map(|r| format!(", Lambda request {}", safe_text(r, 64)))
            .unwrap_or_default();
        match (&self.cognito, &self.client_app) {
            (Some((id, pool)), _) => format!(
                "Cognito identity {} of pool {} (from Lambda's invocation context){request}",
                safe_text(id, 128),
                safe_text(pool, 128)
            ),
            (None, Some(app)) => format!(
                "client application {} (the caller's own client context, not checked by Lambda){request}",
                safe_text(app, 200)
            ),
            (None, None) => format!(
                "not given: Lambda names the caller only for Amazon Cognito credentials, and a direct \
                 Invoke carries none; CloudTrail's Lambda data events, where enabled, name who invoked{request}"
            ),
        }
    }
}

/// Runs `f` (one invocation) with its caller known to `check`.
pub async fn with_caller<F: Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

pub(super) fn current_caller() -> Caller {
    CALLER.try_with(Caller::clone).unwrap_or_default()
}

/// What verification leaves for the rest of `handle_incident`.
pub(super) enum Checked {
    /// Nothing to verify (verification off, not a readable finding, or skipped from what it
    /// says): the incident as given.
    AsGiven,
    /// A manual request: acted on as given, each action naming who asked.
    Manual { caller: String },
    /// GuardDuty's copy, to act on instead of the given finding; `read` says where it was read.
    Genuine { copy: Box<Incident>, read: String },
}

impl Checked {
    /// The incident the rest of the response uses. Owned: a reference that could be either the
    /// caller's or this copy trips rustc's higher-ranked `Send` inference in `respond`.
    pub(super) fn incident(&self, given: &Incident) -> Incident {
        match self {
            Checked::Genuine { copy, .. } => (**copy).clone(),
            _ => given.clone(),
        }
    }

    /// Marks the actions with what verification found.
    pub(super) fn mark(&self, mut actions: Vec<ActionOutcome>) -> Vec<ActionOutcome> {
        for a in &mut actions {
            match self {
                Checked::AsGiven => {}
                Checked::Manual { caller } => {
                    a.facts.insert("requested_by", caller.clone());
                }
                Checked::Genuine { read, .. } => {
                    a.facts.insert("verified", read.clone());
                }
            }
        }
        actions
    }
}

/// Verifies one incident: `Ok` to go on (with GuardDuty's copy when one was read), `Err` with
/// the refusal to report instead of any action.
pub(super) async fn check(
    r: &Responder,
    incident: &Incident,
    ctx: &Ctx,
) -> Result<Checked, Box<ActionOutcome>> {
    if !r.config.verify_findings {
        return Ok(Checked::AsGiven);
    }
    if incident.origin == Origin::Manual {
        let caller = current_caller().describe();
        tracing::info!(requested_by = %caller, "manual request: not a finding, not verified");
        return Ok(Checked::Manual { caller });
    }
    if !judge::is_verifiable_kind(incident) {
        return Ok(Checked::AsGiven);
    }
    // Skipped from what the given finding says (type, severity, sample, archived): nothing a
    // forged finding could make anyone do, and no GuardDuty call spent on it. Manual steps are
    // verified like writes: a forged finding must not hand a person commands to run.
    if let Triage::Done(a) = plan::triage(incident, &r.config) {
        if matches!(a.step, Step::Skip { .. }) {
            return Ok(Checked::AsGiven);
        }
    }
    let arn = match judge::finding_arn(incident) {
        Ok(arn) => arn,
        Err(why) => {
            return Err(refuse(
                incident,
                None,
                Verdict::NotVerifiable(why),
                "nowhere".into(),
                None,
                ctx,
            ))
        }
    };
    let read = read_copy(r, &|copy| judge::judge(incident, &arn, Some(copy)), &arn).await;
    match read.verdict {
        // GuardDuty shows the finding archived while the event said it was not: archiving is
        // one call for anyone with guardduty:ArchiveFindings, possibly the attacker. Not a
        // silent skip: a person looks, with the steps for the principal it names.
        Verdict::Genuine(copy) if copy.archived && !incident.archived => {
            tracing::warn!(finding_arn = %arn, read = %read.place, "finding archived in GuardDuty since the event");
            let steps = plan::by_hand(&copy, &r.config);
            let mut a = ActionOutcome::new(
                steps.kind,
                &steps.target,
                Status::ManualActionRequired,
                format!(
                    "GuardDuty now shows this finding archived ({}), though the event delivered it unarchived: archiving is one call for anyone allowed guardduty:ArchiveFindings, the attacker included, so nothing was written automatically; check who archived it (CloudTrail ArchiveFindings) and, unless a person did so knowingly, revoke by hand",
                    read.place
                ),
            );
            a.commands = steps.commands;
            a.commands.push(format!(
                "aws cloudtrail lookup-events --region {} --lookup-attributes AttributeKey=EventName,AttributeValue=ArchiveFindings --max-results 50",
                arn.region
            ));
            a.facts.insert("verdict", "archived_in_guardduty".into());
            a.at_ms = ctx.elapsed_ms();
            Err(Box::new(a))
        }
        Verdict::Genuine(copy) => {
            tracing::info!(finding_arn = %arn, read = %read.place, "finding verified with GuardDuty");
            Ok(Checked::Genuine {
                copy,
                read: format!("GuardDuty's copy of the finding, {}", read.place),
            })
        }
        verdict => Err(refuse(
            incident,
            Some(&arn),
            verdict,
            read.place,
            read.error,
            ctx,
        )),
    }
}

/// The outcome of looking for GuardDuty's copy.
struct Read {
    verdict: Verdict,
    /// Where it was read, or everywhere it was looked for.
    place: String,
    /// The last AWS error on the way (kept for the report and the retry decision).
    error: Option<AwsError>,
}

/// Where GuardDuty's copy was looked for so far, and what GuardDuty answered on the way.
#[derive(Default)]
struct Search {
    looked: Vec<String>,
    /// A route asked GuardDuty and GuardDuty has no such finding there.
    answered_not_found: bool,
    /// The last AWS error on the way.
    error: Option<AwsError>,
}

impl Search {
    /// One `GetFindings` on one route (`place`): the verdict on GuardDuty's copy when found,
    /// else what was learnt is kept for the next route and the report.
    async fn ask(
        &mut self,
        gd: &dyn Findings,
        detector: &str,
        judge: &Judge<'_>,
        arn: &FindingArn,
        place: String,
    ) -> Option<Read> {
        match gd.get_finding(detector, &arn.finding_id).await {
            Ok(Some(copy)) => Some(Read {
                verdict: judge(&copy),
                place,
                error: None,
            }),
            Ok(None) => {
                self.answered_not_found = true;
                self.looked.push(place);
                None
            }
            Err(e) => {
                self.looked.push(format!("{place}: {}", e.code));
                self.error = Some(e);
                None
            }
        }
    }
}

/// What GuardDuty's copy is judged by: the given finding (`judge::judge`), or, for an approval
/// that carries no finding, only the ARN (`copy_for_approval`).
type Judge<'a> = dyn Fn(&serde_json::Value) -> Verdict + Send + Sync + 'a;

/// Looks for GuardDuty's copy: with the responder's own credentials, then through the member
/// role. GuardDuty's answer that it has no such finding is `Unknown` when no route found it;
/// only when no route could ask at all is the finding `NotVerifiable`.
async fn read_copy(r: &Responder, judge: &Judge<'_>, arn: &FindingArn) -> Read {
    let not_read = |why: String, error: Option<AwsError>| Read {
        verdict: Verdict::NotVerifiable(NotVerifiable::NotRead(why)),
        place: String::new(),
        error,
    };
    let own = match r.accounts.identity().await {
        Ok(id) => id.account,
        Err(e) => {
            return not_read(
                format!("the responder's own account could not be determined ({e})"),
                Some(e),
            )
        }
    };
    let region = arn.region.as_str();
    let mut search = Search::default();

    // 1. The responder's own credentials: its own finding by the ARN's detector, or (as a
    //    GuardDuty administrator) a member's through its own detector.
    match r.accounts.access(&own, &arn.finding_id).await {
        Ok(access) => match access.guardduty(region) {
            Some(gd) => {
                let detector = if arn.account == own {
                    Ok(Some(arn.detector_id.clone()))
                } else {
                    gd.list_detectors().await.map(|d| d.into_iter().next())
                };
                match detector {
                    Ok(Some(detector)) => {
                        let place = format!(
                            "read in {region} with the responder's own credentials (account {own}, detector {})",
                            safe_text(&detector, 64)
                        );
                        if let Some(read) =
                            search.ask(gd.as_ref(), &detector, judge, arn, place).await
                        {
                            return read;
                        }
                    }
                    Ok(None) => search.looked.push(format!(
                        "account {own} has no GuardDuty detector in {region}"
                    )),
                    Err(e) => {
                        search
                            .looked
                            .push(format!("account {own}'s detector in {region}: {}", e.code));
                        search.error = Some(e);
                    }
                }
            }
            None => search
                .looked
                .push(format!("account {own}: GuardDuty is not readable here")),
        },
        Err(u) => {
            search.looked.push(format!("account {own}: {}", u.reason));
            search.error = u.error;
        }
    }

    // 2. Another account's finding: through the member role, with the detector the ARN names.
    if arn.account != own && r.config.member_role_name.is_some() {
        match r.accounts.access(&arn.account, &arn.finding_id).await {
            Ok(access) => match access.guardduty(region) {
                Some(gd) => {
                    let via = access.via_role.as_deref().unwrap_or("the member role");
                    let place = format!(
                        "read in {region} through {via} (account {}, detector {})",
                        arn.account, arn.detector_id
                    );
                    if let Some(read) = search
                        .ask(gd.as_ref(), &arn.detector_id, judge, arn, place)
                        .await
                    {
                        return read;
                    }
                }
                None => search.looked.push(format!(
                    "account {}: GuardDuty is not readable there",
                    arn.account
                )),
            },
            Err(u) => {
                search
                    .looked
                    .push(format!("account {}: {}", arn.account, u.reason));
                if u.error.is_some() {
                    search.error = u.error;
                }
            }
        }
    }

    let place = search.looked.join("; ");
    if search.answered_not_found {
        Read {
            verdict: Verdict::Unknown,
            place,
            error: search.error,
        }
    } else {
        let why = match &search.error {
            Some(e) => format!("{} {}: {}", e.operation, e.code, safe_text(&e.message, 200)),
            None => "no route to GuardDuty".into(),
        };
        Read {
            verdict: Verdict::NotVerifiable(NotVerifiable::NotRead(why)),
            place,
            error: search.error,
        }
    }
}

/// An approve request (issue 25) carries no finding, only its ARN: GuardDuty's copy is read
/// the same way (whatever `VERIFY_FINDINGS` says: there is nothing else to act on), and the
/// incident GuardDuty's copy gives for `role` (an attack sequence names several) is the one.
/// `Err`: the refusal to report; nothing is written.
pub(super) async fn copy_for_approval(
    r: &Responder,
    arn: &FindingArn,
    role: &str,
    ctx: &Ctx,
) -> Result<Incident, Box<ActionOutcome>> {
    let judge = |copy: &serde_json::Value| -> Verdict {
        match revoker_core::input::parse_guardduty_findings(copy) {
            Err(e) => Verdict::NotVerifiable(NotVerifiable::CopyUnreadable(safe_text(
                &e.to_string(),
                200,
            ))),
            Ok(copies) => {
                let mine = copies
                    .iter()
                    .filter(|c| c.finding_id.as_deref() == Some(arn.finding_id.as_str()));
                match mine
                    .clone()
                    .find(|c| c.principal.name.as_deref() == Some(role))
                    .or_else(|| mine.clone().next())
                {
                    Some(c) => Verdict::Genuine(Box::new(c.clone())),
                    None => Verdict::Unknown,
                }
            }
        }
    };
    let read = read_copy(r, &judge, arn).await;
    let mut given = Incident::empty(Origin::Finding);
    given.finding_id = Some(arn.finding_id.clone());
    match read.verdict {
        Verdict::Genuine(copy) => {
            tracing::info!(finding_arn = %arn, read = %read.place, "finding read again for an approval");
            Ok(*copy)
        }
        verdict => Err(refuse(
            &given,
            Some(arn),
            verdict,
            read.place,
            read.error,
            ctx,
        )),
    }
}

/// The refusal: one failed `triage` action naming why, what was compared and where; nothing
/// is written for this finding.
fn refuse(
    incident: &Incident,
    arn: Option<&FindingArn>,
    verdict: Verdict,
    place: String,
    error: Option<AwsError>,
    ctx: &Ctx,
) -> Box<ActionOutcome> {
    let detail = verdict
        .refusal(arn, &place)
        .unwrap_or_else(|| "refused".into());
    tracing::warn!(
        finding_arn = arn.map(ToString::to_string).unwrap_or_default(),
        detail = %detail,
        "finding refused"
    );
    let target = match (arn, incident.finding_id.as_deref()) {
        (Some(arn), _) => arn.to_string(),
        (None, Some(id)) => format!("finding {id}"),
        (None, None) => "finding".into(),
    };
    let mut a = ActionOutcome::new(ActionKind::Triage, &target, Status::Failed, detail);
    a.error = error.as_ref().map(Into::into);
    a.facts.insert(
        "verdict",
        match verdict {
            Verdict::Genuine(_) => "genuine",
            Verdict::Unknown => "unknown_to_guardduty",
            Verdict::Differs(_) => "differs_from_guardduty",
            Verdict::NotVerifiable(_) => "not_verifiable",
        }
        .into(),
    );
    a.at_ms = ctx.elapsed_ms();
    Box::new(a)
}

#[cfg(test)]
mod tests;
