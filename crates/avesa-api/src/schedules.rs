//! Client reports on a schedule: a company's report for a named period (last week, last
//! month …), e-mailed weekly or monthly at an hour of the tenant's day.
//!
//! Each serving process with the scheduler on looks for due schedules every minute
//! ([`run`]). A delivery belongs to the one process whose claim moves the schedule's
//! `next_run_at` from the slot to the next one (a compare-and-set in the state store), so
//! however many processes look, a slot is sent at most once; a process that dies after
//! its claim leaves the schedule marked `sending`, and the next slot comes as usual. Slots
//! missed while no process ran are not sent one by one: the schedule sends once and moves
//! to its next slot after now. A delivery that fails for a passing reason (the SMTP server
//! or the warehouse unavailable) is tried again every [`RETRY_EVERY`] until
//! [`RETRY_FOR`] after its slot; one that cannot succeed (the company is gone) waits for
//! the next slot.

use std::time::Duration;

use avesa_model::{CanonicalTable, Role};
use avesa_state::{ReportSchedule, StateError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kpi::{MetricParams, rfc3339};
use crate::ops::field;
use crate::reports::{plain_message, send_company_report};
use crate::{AppState, AuthUser};

/// The periods a schedule's reports may cover.
pub const PERIODS: [&str; 6] = ["last_week", "last_month", "last_quarter", "7d", "30d", "90d"];

/// How often.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Weekly,
    Monthly,
}

impl Cadence {
    fn as_str(self) -> &'static str {
        match self {
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
        }
    }

    fn parse(s: &str) -> Option<Cadence> {
        match s {
            "weekly" => Some(Cadence::Weekly),
            "monthly" => Some(Cadence::Monthly),
            _ => None,
        }
    }
}

/// The instant `date` at `hour`:00 in `tz` (a time a clock change skips moves on by the
/// hour it skipped; one it repeats is its first).
fn local_instant(tz: Tz, date: NaiveDate, hour: u32) -> Option<DateTime<Utc>> {
    let at = date.and_hms_opt(hour, 0, 0)?;
    let local = tz
        .from_local_datetime(&at)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(at + chrono::TimeDelta::hours(1))).earliest())?;
    Some(local.with_timezone(&Utc))
}

/// The schedule's first slot strictly after `after`.
pub fn next_slot(
    cadence: Cadence,
    day: u32,
    hour: u32,
    tz: Tz,
    after: DateTime<Utc>,
) -> DateTime<Utc> {
    let today = after.with_timezone(&tz).date_naive();
    let candidates: Box<dyn Iterator<Item = NaiveDate>> = match cadence {
        Cadence::Weekly => Box::new(
            (0..15)
                .filter_map(move |i| today.checked_add_days(chrono::Days::new(i)))
                .filter(move |d| d.weekday().number_from_monday() == day),
        ),
        Cadence::Monthly => Box::new((0..3).filter_map(move |i| {
            let first = today.with_day(1)?.checked_add_months(chrono::Months::new(i))?;
            first.with_day(day)
        })),
    };
    candidates
        .filter_map(|d| local_instant(tz, d, hour))
        .find(|t| *t > after)
        // Unreachable for valid days and hours; a week on rather than a panic.
        .unwrap_or(after + chrono::TimeDelta::days(7))
}

/// A schedule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    /// The company (`connectwise:250`).
    pub company: String,
    pub cadence: Cadence,
    /// 1 (Monday) … 7 (Sunday) weekly; 1 … 28 monthly.
    pub day: u32,
    /// 0 … 23, in `tz`.
    pub hour: u32,
    pub tz: String,
    /// The period each report covers.
    pub period: String,
    pub to: Vec<String>,
    /// Whether it also goes to the company's active contacts.
    pub contacts: bool,
    pub message: Option<String>,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub next_run_at: String,
    #[schema(format = DateTime)]
    pub last_run_at: Option<String>,
    /// `sending`, `sent` or `failed`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

fn view(r: ReportSchedule) -> ScheduleView {
    ScheduleView {
        id: r.id,
        company: r.company_id,
        cadence: Cadence::parse(&r.cadence).unwrap_or(Cadence::Monthly),
        day: r.day,
        hour: r.hour,
        tz: r.tz,
        period: r.period,
        to: r.recipients,
        contacts: r.contacts,
        message: r.message,
        created_by: r.created_by,
        created_at: rfc3339(r.created_at),
        next_run_at: rfc3339(r.next_run_at),
        last_run_at: r.last_run_at.map(rfc3339),
        last_status: r.last_status,
        last_error: r.last_error,
    }
}

/// `GET /api/report-schedules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleFilter {
    /// Only this company's schedules.
    pub company: Option<String>,
}

/// The tenant's client-report schedules (of one company with `company`).
#[utoipa::path(
    get,
    path = "/api/report-schedules",
    tag = "reports",
    params(ScheduleFilter),
    responses((status = 200, description = "The schedules, oldest first.", body = ScheduleList)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(f): ApiQuery<ScheduleFilter>,
) -> Result<Json<ScheduleList>, ApiError> {
    let company = f.company.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let schedules = state
        .store
        .list_report_schedules(&user.tenant)
        .await?
        .into_iter()
        .filter(|r| company.is_none_or(|c| r.company_id == c))
        .map(view)
        .collect();
    Ok(Json(ScheduleList { schedules }))
}

/// The body of `POST /api/report-schedules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// The company (`connectwise:250`).
    pub company: String,
    pub cadence: Cadence,
    /// 1 (Monday) … 7 (Sunday) weekly; 1 … 28 monthly.
    pub day: u32,
    /// 0 … 23, in the tenant's time zone.
    pub hour: u32,
    /// last_week, last_month, last_quarter, 7d, 30d or 90d.
    pub period: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub contacts: bool,
    pub message: Option<String>,
}

/// Schedules a company's client report (analysts and tenant admins). Its first delivery
/// is the first slot after now.
#[utoipa::path(
    post,
    path = "/api/report-schedules",
    tag = "reports",
    request_body = NewSchedule,
    responses(
        (status = 201, description = "Scheduled.", body = ScheduleView),
        (status = 400, description = "A bad value, named.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such company.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The tenant has the most schedules it may keep.", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    user.require_role(&[Role::TenantAdmin, Role::Analyst])?;
    let range = match body.cadence {
        Cadence::Weekly => 1..=7,
        Cadence::Monthly => 1..=28,
    };
    if !range.contains(&body.day) {
        let why = match body.cadence {
            Cadence::Weekly => "1 (Monday) to 7 (Sunday) for a weekly schedule",
            Cadence::Monthly => "1 to 28 for a monthly schedule",
        };
        return Err(field("day", why));
    }
    if body.hour > 23 {
        return Err(field("hour", "0 to 23"));
    }
    let period = body.period.trim();
    if !PERIODS.contains(&period) {
        return Err(field("period", format!("one of {}", PERIODS.join(", "))));
    }
    let to: Vec<String> =
        crate::reports::recipients(&body.to, Vec::new())?.iter().map(|m| m.to_string()).collect();
    if to.is_empty() && !body.contacts {
        return Err(field("to", "name at least one recipient, or set `contacts`"));
    }
    let message = body.message.as_deref().map(str::trim).filter(|m| !m.is_empty());
    if let Some(m) = message {
        plain_message(m)?;
    }
    let company: avesa_warehouse::EntityId = body.company.trim().parse()?;
    {
        let _permit = state.reads.gate.enter(&user.tenant).await?;
        let found =
            state.warehouse.get(&user.tenant, CanonicalTable::Companies, &company, None).await?;
        if found.is_none() {
            return Err(ApiError::not_found(format!("no company {}", body.company.trim())));
        }
    }
    let settings = crate::tenant_settings::load(&state, &user.tenant).await?;
    let tz = settings.time_zone;
    let now = Utc::now();
    let schedule = ReportSchedule {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: user.tenant.clone(),
        company_id: body.company.trim().to_owned(),
        cadence: body.cadence.as_str().into(),
        day: body.day,
        hour: body.hour,
        tz: tz.name().to_owned(),
        period: period.to_owned(),
        recipients: to,
        contacts: body.contacts,
        message: message.map(str::to_owned),
        created_by: user.user_id.clone(),
        created_at: now.trunc_subsecs(0),
        next_run_at: next_slot(body.cadence, body.day, body.hour, tz, now),
        last_run_at: None,
        last_status: None,
        last_error: None,
    };
    state.store.create_report_schedule(&schedule).await.map_err(|e| match e {
        StateError::Conflict(m) => ApiError::conflict(m),
        e => e.into(),
    })?;
    tracing::info!(tenant = %user.tenant, by = %user.user_id, id = %schedule.id, "client report scheduled");
    Ok((StatusCode::CREATED, Json(view(schedule))))
}

/// Stops a schedule (analysts and tenant admins).
#[utoipa::path(
    delete,
    path = "/api/report-schedules/{id}",
    tag = "reports",
    params(("id" = String, Path, description = "The schedule's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such schedule.", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    user.require_role(&[Role::TenantAdmin, Role::Analyst])?;
    if state.store.delete_report_schedule(&user.tenant, &id).await? {
        tracing::info!(tenant = %user.tenant, by = %user.user_id, id = %id, "client report schedule deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no report schedule {id}")))
    }
}

// ---- delivery ----

/// Schedules delivered per look at most (the rest wait for the next look).
const PER_LOOK: u32 = 20;

/// How soon a delivery that failed for a passing reason is tried again.
pub const RETRY_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// How long after its slot a delivery is still tried again.
pub const RETRY_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The schedule's latest slot at or before `t` (a retry's time is after its slot).
fn slot_at_or_before(
    cadence: Cadence,
    day: u32,
    hour: u32,
    tz: Tz,
    t: DateTime<Utc>,
) -> DateTime<Utc> {
    let mut slot = next_slot(cadence, day, hour, tz, t - chrono::TimeDelta::days(35));
    for _ in 0..12 {
        let next = next_slot(cadence, day, hour, tz, slot);
        if next > t {
            break;
        }
        slot = next;
    }
    slot
}

/// Sends what is due at `now`; the number of deliveries this process took.
pub async fn deliver_due(state: &AppState, now: DateTime<Utc>) -> usize {
    let due = match state.store.due_report_schedules(now, PER_LOOK).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read due report schedules");
            return 0;
        }
    };
    let mut taken = 0;
    for r in due {
        let (Some(cadence), Ok(tz)) = (Cadence::parse(&r.cadence), r.tz.parse::<Tz>()) else {
            tracing::error!(tenant = %r.tenant_id, id = %r.id, "a report schedule does not read; skipped");
            continue;
        };
        let next = next_slot(cadence, r.day, r.hour, tz, now.max(r.next_run_at));
        match state.store.claim_report_schedule(&r.tenant_id, &r.id, r.next_run_at, next, now).await
        {
            Ok(true) => {}
            Ok(false) => continue, // another process took it
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a report schedule");
                continue;
            }
        }
        taken += 1;
        let result = deliver(state, &r).await;
        let (status, error) = match &result {
            Ok(()) => ("sent", None),
            Err(e) => {
                // A passing failure, still near its slot: again in a while, not next slot.
                let slot = slot_at_or_before(cadence, r.day, r.hour, tz, r.next_run_at);
                let passing = matches!(
                    e.code,
                    ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::RateLimited
                );
                let retry = now + RETRY_EVERY;
                let mut message = e.message.clone();
                if passing && retry < slot + RETRY_FOR && retry < next {
                    match state
                        .store
                        .claim_report_schedule(&r.tenant_id, &r.id, next, retry, now)
                        .await
                    {
                        Ok(true) => {
                            let at = retry.with_timezone(&tz).format("%H:%M %Z");
                            message = format!("{message}; trying again at {at}");
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot set a report's retry"),
                    }
                }
                ("failed", Some(message))
            }
        };
        if let Err(e) =
            state.store.finish_report_schedule(&r.tenant_id, &r.id, status, error.as_deref()).await
        {
            tracing::warn!(error = %e, "cannot record a report delivery");
        }
    }
    taken
}

async fn deliver(state: &AppState, r: &ReportSchedule) -> Result<(), ApiError> {
    // The schedule acts for its tenant as an analyst would; the tenant is the one its
    // creator's verified token named.
    let user = AuthUser {
        user_id: format!("schedule:{}", r.id),
        tenant: r.tenant_id.clone(),
        role: Role::Analyst,
        session: String::new(),
    };
    let params = MetricParams {
        period: Some(r.period.clone()),
        tz: Some(r.tz.clone()),
        ..MetricParams::default()
    };
    // Waits its turn at the tenant's reads for as long as it takes (patient).
    let sent = send_company_report(
        state,
        &user,
        r.company_id.clone(),
        params,
        &r.recipients,
        r.contacts,
        r.message.as_deref(),
        true,
    )
    .await;
    match &sent {
        Ok(s) => {
            tracing::info!(tenant = %r.tenant_id, id = %r.id, recipients = s.sent_to.len(), "scheduled client report sent")
        }
        Err(e) => {
            tracing::warn!(tenant = %r.tenant_id, id = %r.id, error = %e.message, "scheduled client report not sent")
        }
    }
    sent.map(|_| ())
}

/// Looks for due schedules every `every`, until the task is aborted.
pub async fn run(state: AppState, every: Duration) {
    loop {
        deliver_due(&state, Utc::now()).await;
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekly_slots_fall_on_the_weekday_and_hour_in_the_zone() {
        let ams: Tz = "Europe/Amsterdam".parse().unwrap();
        // Saturday 5 Dec 2026, 15:00 UTC; Monday 08:00 Amsterdam is 07:00 UTC.
        let after = utc("2026-12-05T15:00:00Z");
        assert_eq!(next_slot(Cadence::Weekly, 1, 8, ams, after), utc("2026-12-07T07:00:00Z"));
        // Saturday 17:00 local is later today.
        assert_eq!(next_slot(Cadence::Weekly, 6, 17, ams, after), utc("2026-12-05T16:00:00Z"));
        // Saturday 08:00 local has passed: next week.
        assert_eq!(next_slot(Cadence::Weekly, 6, 8, ams, after), utc("2026-12-12T07:00:00Z"));
        // Strictly after: the slot itself is not its own next.
        let slot = utc("2026-12-07T07:00:00Z");
        assert_eq!(next_slot(Cadence::Weekly, 1, 8, ams, slot), utc("2026-12-14T07:00:00Z"));
    }

    #[test]
    fn monthly_slots_and_clock_changes() {
        let ams: Tz = "Europe/Amsterdam".parse().unwrap();
        let after = utc("2026-12-05T15:00:00Z");
        assert_eq!(next_slot(Cadence::Monthly, 1, 8, ams, after), utc("2027-01-01T07:00:00Z"));
        assert_eq!(next_slot(Cadence::Monthly, 28, 0, ams, after), utc("2026-12-27T23:00:00Z"));
        // Still winter time on 28 Mar 2026 (UTC+1).
        let before = utc("2026-03-01T00:00:00Z");
        assert_eq!(next_slot(Cadence::Monthly, 28, 2, ams, before), utc("2026-03-28T01:00:00Z"));
        // Sunday 29 Mar 2026 02:00 does not exist in Amsterdam: 03:00 summer time instead.
        let weekly_gap = next_slot(Cadence::Weekly, 7, 2, ams, utc("2026-03-28T12:00:00Z"));
        assert_eq!(weekly_gap, utc("2026-03-29T01:00:00Z"));
        // UTC itself.
        assert_eq!(
            next_slot(Cadence::Monthly, 15, 23, chrono_tz::UTC, utc("2026-02-15T23:00:00Z")),
            utc("2026-03-15T23:00:00Z")
        );
    }
}
