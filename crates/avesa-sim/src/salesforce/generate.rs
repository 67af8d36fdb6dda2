//! Deterministic generation of one simulated org from its seed, and the record builders
//! that [`super::advance`] reuses for new records.
//!
//! Everything is drawn from ChaCha8 streams seeded from `spec.seed` (one stream per object),
//! over the two years before `spec.now`, in whole seconds. Shapes worth knowing in tests:
//!
//! * every object's rows are created in `CreatedDate` order, so `Id` order is creation
//!   order; `CreatedDate <= LastModifiedDate <= SystemModstamp <= now`;
//! * users: the first is the org's API user (`Username` = the spec's username), active;
//! * references point at records created earlier (a contact's account, a case's account and
//!   contact — the contact belongs to the case's account —, an opportunity's account, every
//!   `OwnerId`/`CreatedById`/`LastModifiedById` at a user);
//! * cases: numbered `00001001` upwards in creation order; recent ones are mostly open
//!   (`New`/`Working`/`Escalated`), older ones mostly `Closed` with `IsClosed` and
//!   `ClosedDate`; a few big accounts raise most cases;
//! * opportunities: `StageName`, `Probability`, `ForecastCategory`, `IsClosed`, `IsWon`
//!   agree with Salesforce's default sales process.

use rand::Rng;

use super::schema::{Obj, Rec, Val, make_id};
use super::{Org, SfOrgSpec, Table};
use crate::connectwise::catalog::{
    CITIES, COMPANY_PREFIXES, COMPANY_SUFFIXES, CONTACT_TITLES, FIRST_NAMES, LAST_NAMES, STREETS,
};

pub const DAY: i64 = 86_400;

pub(super) use crate::rng::Gen;

/// The org generator's stream for `seed`, told apart by `salt` (Salesforce's own mixing, so
/// an org's data stays what it was before the generator was shared).
pub(super) fn sf_gen(seed: u64, salt: u64) -> Gen {
    Gen::mixed(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23))
}

/// FNV-1a of a string, to salt seeds and credentials by org name.
pub(super) fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

// ---------------------------------------------------------------------------------------------
// Picklists and word lists

pub const ACCOUNT_TYPES: [(&str, f64); 6] = [
    ("Customer - Direct", 0.45),
    ("Customer - Channel", 0.12),
    ("Prospect", 0.25),
    ("Channel Partner / Reseller", 0.06),
    ("Technology Partner", 0.04),
    ("Other", 0.08),
];

/// (name word, Industry picklist value)
const INDUSTRIES: [(&str, &str); 20] = [
    ("Dental", "Healthcare"),
    ("Family Medicine", "Healthcare"),
    ("Veterinary Clinic", "Healthcare"),
    ("Law Group", "Consulting"),
    ("Accounting", "Finance"),
    ("Engineering", "Engineering"),
    ("Architects", "Engineering"),
    ("Credit Union", "Banking"),
    ("Insurance Agency", "Insurance"),
    ("Wealth Management", "Finance"),
    ("Manufacturing", "Manufacturing"),
    ("Fabrication", "Machinery"),
    ("Logistics", "Transportation"),
    ("Construction", "Construction"),
    ("Auto Group", "Retail"),
    ("Foods", "Food & Beverage"),
    ("Hospitality", "Hospitality"),
    ("Foundation", "Not For Profit"),
    ("Software", "Technology"),
    ("Telecom", "Telecommunications"),
];

pub const LEAD_SOURCES: [&str; 5] =
    ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"];

const CONTACT_DEPARTMENTS: [&str; 7] =
    ["Finance", "Operations", "IT", "Executive", "Human Resources", "Sales", "Administration"];

pub const CASE_OPEN: [&str; 3] = ["New", "Working", "Escalated"];
pub const CASE_CLOSED: &str = "Closed";
pub const PRIORITIES: [(&str, f64); 3] = [("High", 0.2), ("Medium", 0.5), ("Low", 0.3)];
const ORIGINS: [(&str, f64); 3] = [("Email", 0.5), ("Phone", 0.3), ("Web", 0.2)];
const CASE_TYPES: [&str; 5] = ["Mechanical", "Electrical", "Electronic", "Structural", "Other"];
pub const CASE_REASONS: [&str; 7] = [
    "Installation",
    "Equipment Complexity",
    "Performance",
    "Breakdown",
    "Equipment Design",
    "Feedback",
    "Other",
];
const SUBJECTS: [&str; 24] = [
    "Cannot connect to VPN",
    "Outlook keeps asking for password",
    "Printer offline in main office",
    "New user onboarding",
    "Laptop running slow",
    "Request for software installation",
    "Email bouncing from external domain",
    "Wi-Fi drops every few minutes",
    "Server disk space alert",
    "Backup job failed overnight",
    "Password reset request",
    "Shared drive permissions",
    "Phone system not ringing through",
    "Firewall blocking vendor portal",
    "MFA device replacement",
    "Monitor flickering",
    "Antivirus definitions out of date",
    "Scanner to email not working",
    "User offboarding",
    "Teams calls dropping",
    "Invoice question",
    "License renewal",
    "Website down",
    "Suspicious email reported",
];

/// (StageName, Probability, ForecastCategory, IsClosed, IsWon)
pub const STAGES: [(&str, f64, &str, bool, bool); 10] = [
    ("Prospecting", 10.0, "Pipeline", false, false),
    ("Qualification", 10.0, "Pipeline", false, false),
    ("Needs Analysis", 20.0, "Pipeline", false, false),
    ("Value Proposition", 50.0, "Pipeline", false, false),
    ("Id. Decision Makers", 60.0, "Pipeline", false, false),
    ("Perception Analysis", 70.0, "Pipeline", false, false),
    ("Proposal/Price Quote", 75.0, "BestCase", false, false),
    ("Negotiation/Review", 90.0, "Forecast", false, false),
    ("Closed Won", 100.0, "Closed", true, true),
    ("Closed Lost", 0.0, "Omitted", true, false),
];
pub const STAGE_WON: usize = 8;
pub const STAGE_LOST: usize = 9;
const OPP_TYPES: [&str; 4] = [
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
];
const OPP_PRODUCTS: [&str; 10] = [
    "Managed Services Agreement",
    "Microsoft 365 Migration",
    "Firewall Refresh",
    "Backup & DR",
    "Server Replacement",
    "Security Awareness Training",
    "Network Upgrade",
    "Endpoint Protection",
    "VoIP Rollout",
    "Cloud Hosting",
];

pub const USER_TITLES: [&str; 8] = [
    "Service Desk Manager",
    "Support Engineer",
    "Senior Support Engineer",
    "Account Executive",
    "Sales Manager",
    "Field Technician",
    "Customer Success Manager",
    "Operations Director",
];
pub const USER_DEPARTMENTS: [&str; 4] = ["Support", "Sales", "Operations", "Customer Success"];

// ---------------------------------------------------------------------------------------------
// Builders

pub fn phone(g: &mut Gen) -> String {
    format!("({}) 555-{:04}", g.range(201, 990), g.range(100, 10_000))
}

pub fn slug(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

fn secs(t: i64) -> Val {
    Val::Time(t * 1000)
}

/// Sets the system fields: created at `created` by `creator`, last modified at `modified`
/// by `modifier`.
pub fn stamp(
    obj: Obj,
    row: &mut [Val],
    created: i64,
    creator: &str,
    modified: i64,
    modifier: &str,
) {
    let s = obj.sys();
    row[s.is_deleted] = Val::Bool(false);
    row[s.created] = secs(created);
    row[s.created_by] = Val::id(creator);
    row[s.modified] = secs(modified);
    row[s.modified_by] = Val::id(modifier);
    row[s.modstamp] = secs(modified);
}

fn blank(obj: Obj) -> Vec<Val> {
    vec![Val::Null; obj.fields().len()]
}

fn set(row: &mut [Val], obj: Obj, name: &str, v: Val) {
    row[obj.ix(name)] = v;
}

/// A modification time after `created`, at or before `now`.
fn modified_after(g: &mut Gen, created: i64, now: i64) -> i64 {
    if g.chance(0.3) {
        created
    } else {
        (created + g.lognormal(20.0 * DAY as f64, 1.5) as i64).min(now)
    }
}

pub struct UserSeed<'a> {
    pub first: &'a str,
    pub last: &'a str,
    pub username: String,
}

pub fn user_row(g: &mut Gen, seed: UserSeed<'_>, active: bool) -> Vec<Val> {
    let o = Obj::User;
    let mut r = blank(o);
    set(&mut r, o, "Username", Val::str(seed.username.clone()));
    set(&mut r, o, "Name", Val::str(format!("{} {}", seed.first, seed.last)));
    set(&mut r, o, "FirstName", Val::str(seed.first));
    set(&mut r, o, "LastName", Val::str(seed.last));
    set(&mut r, o, "Email", Val::str(seed.username.clone()));
    set(&mut r, o, "Title", Val::Pick(g.pick(&USER_TITLES)));
    set(&mut r, o, "Department", Val::Pick(g.pick(&USER_DEPARTMENTS)));
    set(&mut r, o, "IsActive", Val::Bool(active));
    set(&mut r, o, "UserType", Val::Pick("Standard"));
    // Salesforce's default alias: the first initial and up to four letters of the last name.
    let alias: String = seed
        .first
        .chars()
        .take(1)
        .chain(seed.last.chars().filter(char::is_ascii_alphanumeric).take(4))
        .collect::<String>()
        .to_ascii_lowercase();
    set(&mut r, o, "Alias", Val::str(alias));
    set(&mut r, o, "TimeZoneSidKey", Val::Pick("America/New_York"));
    set(&mut r, o, "LocaleSidKey", Val::Pick("en_US"));
    set(&mut r, o, "EmailEncodingKey", Val::Pick("UTF-8"));
    set(&mut r, o, "LanguageLocaleKey", Val::Pick("en_US"));
    r
}

pub fn account_row(g: &mut Gen, owner: &str, parent: Option<&str>, number: u64) -> Vec<Val> {
    let o = Obj::Account;
    let mut r = blank(o);
    let (word, industry) = g.pick(&INDUSTRIES);
    let suffix = g.pick(&COMPANY_SUFFIXES);
    let name = format!(
        "{} {word}{}{suffix}",
        g.pick(&COMPANY_PREFIXES),
        if suffix.is_empty() { "" } else { " " }
    );
    let kind = ACCOUNT_TYPES[g.weighted(&ACCOUNT_TYPES.map(|t| t.1))].0;
    let (city, state, zip, _) = g.pick(&CITIES);
    let employees = g.lognormal(35.0, 1.1).round().max(1.0) as i64;
    set(&mut r, o, "Name", Val::str(name.clone()));
    set(&mut r, o, "Type", Val::Pick(kind));
    set(&mut r, o, "Industry", if g.chance(0.9) { Val::Pick(industry) } else { Val::Null });
    set(&mut r, o, "AccountNumber", Val::str(format!("CD{:06}", 100_000 + number)));
    set(&mut r, o, "ParentId", parent.map_or(Val::Null, Val::id));
    set(&mut r, o, "OwnerId", Val::id(owner));
    set(&mut r, o, "Phone", Val::str(phone(g)));
    set(&mut r, o, "Website", Val::str(format!("www.{}.com", slug(&name))));
    set(
        &mut r,
        o,
        "AnnualRevenue",
        if g.chance(0.85) {
            Val::Num(((employees as f64 * g.lognormal(120_000.0, 0.4)) / 1000.0).round() * 1000.0)
        } else {
            Val::Null
        },
    );
    set(&mut r, o, "NumberOfEmployees", Val::Int(employees));
    set(
        &mut r,
        o,
        "BillingStreet",
        Val::str(format!("{} {}", g.range(10, 9_999), g.pick(&STREETS))),
    );
    set(&mut r, o, "BillingCity", Val::Pick(city));
    set(&mut r, o, "BillingState", Val::Pick(state));
    set(
        &mut r,
        o,
        "BillingPostalCode",
        Val::str(format!("{:05}", zip * 100 + g.range(0, 100) as u32)),
    );
    set(&mut r, o, "BillingCountry", Val::Pick("United States"));
    set(
        &mut r,
        o,
        "Description",
        if g.chance(0.4) {
            Val::str(format!("{kind} account, {employees} employees, {city} {state}."))
        } else {
            Val::Null
        },
    );
    r
}

/// A contact of `account` (its row), owned by the account's owner.
pub fn contact_row(g: &mut Gen, account: &Rec) -> Vec<Val> {
    let o = Obj::Contact;
    let a = Obj::Account;
    let mut r = blank(o);
    let first = g.pick(&FIRST_NAMES);
    let last = g.pick(&LAST_NAMES);
    let website = account.vals[a.ix("Website")].as_str().unwrap_or("www.example.com");
    let domain = website.trim_start_matches("www.");
    set(&mut r, o, "AccountId", Val::id(account.id()));
    set(&mut r, o, "FirstName", Val::str(first));
    set(&mut r, o, "LastName", Val::str(last));
    set(&mut r, o, "Name", Val::str(format!("{first} {last}")));
    set(
        &mut r,
        o,
        "Email",
        if g.chance(0.95) {
            Val::str(format!(
                "{}.{}@{domain}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            ))
        } else {
            Val::Null
        },
    );
    set(&mut r, o, "Phone", Val::str(phone(g)));
    set(&mut r, o, "MobilePhone", if g.chance(0.5) { Val::str(phone(g)) } else { Val::Null });
    set(&mut r, o, "Title", Val::Pick(g.pick(&CONTACT_TITLES)));
    set(&mut r, o, "Department", Val::Pick(g.pick(&CONTACT_DEPARTMENTS)));
    for (from, to) in [
        ("BillingStreet", "MailingStreet"),
        ("BillingCity", "MailingCity"),
        ("BillingState", "MailingState"),
        ("BillingPostalCode", "MailingPostalCode"),
        ("BillingCountry", "MailingCountry"),
    ] {
        set(&mut r, o, to, account.vals[a.ix(from)].clone());
    }
    set(&mut r, o, "OwnerId", account.vals[a.ix("OwnerId")].clone());
    set(&mut r, o, "LeadSource", Val::Pick(g.pick(&LEAD_SOURCES)));
    r
}

/// Sets a case's status and the fields that follow from it.
pub fn set_case_status(row: &mut [Val], status: &'static str, closed_at: Option<i64>) {
    let o = Obj::Case;
    set(row, o, "Status", Val::Pick(status));
    set(row, o, "IsClosed", Val::Bool(status == CASE_CLOSED));
    set(row, o, "ClosedDate", closed_at.filter(|_| status == CASE_CLOSED).map_or(Val::Null, secs));
    if status == "Escalated" {
        set(row, o, "IsEscalated", Val::Bool(true));
    }
}

/// A new (open, `New`) case; the caller sets status, times and owner.
pub fn case_row(
    g: &mut Gen,
    number: u64,
    account: &str,
    contact: Option<&str>,
    owner: &str,
) -> Vec<Val> {
    let o = Obj::Case;
    let mut r = blank(o);
    let subject = g.pick(&SUBJECTS);
    set(&mut r, o, "CaseNumber", Val::str(format!("{number:08}")));
    set(&mut r, o, "AccountId", Val::id(account));
    set(&mut r, o, "ContactId", contact.map_or(Val::Null, Val::id));
    set(&mut r, o, "Subject", Val::Pick(subject));
    set(
        &mut r,
        o,
        "Description",
        if g.chance(0.7) {
            Val::str(format!("{subject}. Reported via customer."))
        } else {
            Val::Null
        },
    );
    set(&mut r, o, "Priority", Val::Pick(PRIORITIES[g.weighted(&PRIORITIES.map(|p| p.1))].0));
    set(&mut r, o, "Origin", Val::Pick(ORIGINS[g.weighted(&ORIGINS.map(|p| p.1))].0));
    set(&mut r, o, "Type", if g.chance(0.85) { Val::Pick(g.pick(&CASE_TYPES)) } else { Val::Null });
    set(
        &mut r,
        o,
        "Reason",
        if g.chance(0.8) { Val::Pick(g.pick(&CASE_REASONS)) } else { Val::Null },
    );
    set(&mut r, o, "IsEscalated", Val::Bool(false));
    set(&mut r, o, "OwnerId", Val::id(owner));
    set_case_status(&mut r, "New", None);
    r
}

/// Sets an opportunity's stage and the fields that follow from it.
pub fn set_stage(row: &mut [Val], stage: usize) {
    let o = Obj::Opportunity;
    let (name, prob, forecast, closed, won) = STAGES[stage.min(STAGES.len() - 1)];
    set(row, o, "StageName", Val::Pick(name));
    set(row, o, "Probability", Val::Num(prob));
    set(row, o, "ForecastCategory", Val::Pick(forecast));
    set(row, o, "IsClosed", Val::Bool(closed));
    set(row, o, "IsWon", Val::Bool(won));
}

pub fn opportunity_row(g: &mut Gen, account: &Rec, stage: usize, close_day: i64) -> Vec<Val> {
    let o = Obj::Opportunity;
    let a = Obj::Account;
    let mut r = blank(o);
    let name = account.vals[a.ix("Name")].as_str().unwrap_or("Account").to_string();
    set(&mut r, o, "AccountId", Val::id(account.id()));
    set(&mut r, o, "Name", Val::str(format!("{name} - {}", g.pick(&OPP_PRODUCTS))));
    set(&mut r, o, "Amount", Val::Num((g.lognormal(18_000.0, 0.9) / 100.0).round() * 100.0));
    set(&mut r, o, "CloseDate", Val::Date(close_day as i32));
    set(&mut r, o, "Type", Val::Pick(g.pick(&OPP_TYPES)));
    set(&mut r, o, "LeadSource", Val::Pick(g.pick(&LEAD_SOURCES)));
    set(&mut r, o, "OwnerId", account.vals[a.ix("OwnerId")].clone());
    set_stage(&mut r, stage);
    r
}

// ---------------------------------------------------------------------------------------------
// The whole org

/// `n` sorted creation instants in `[lo, hi)`, denser towards `hi` when `growth` > 0.
fn creation_times(g: &mut Gen, n: usize, lo: i64, hi: i64, growth: f64) -> Vec<i64> {
    let span = (hi - lo).max(1) as f64;
    let mut out: Vec<i64> = (0..n)
        .map(|_| {
            let u: f64 = g.rng.r#gen();
            let x = if growth > 0.0 { u.powf(1.0 / (1.0 + growth)) } else { u };
            lo + (x * span) as i64
        })
        .collect();
    out.sort_unstable();
    out
}

/// Index of the last row created at or before `t` (rows sorted by creation), if any.
fn created_upto(created: &[i64], t: i64) -> Option<usize> {
    created.partition_point(|&c| c <= t).checked_sub(1)
}

pub(super) fn generate(spec: SfOrgSpec) -> Org {
    let salt = hash(&spec.org);
    let now = spec.now.timestamp();
    let start = now - 730 * DAY;
    let mut org = Org::empty(spec);
    let sizes = org.spec.sizes.clone();
    let seed = org.spec.seed ^ salt;

    // Users: the API user first, at the org's creation.
    let mut g = sf_gen(seed, 0x5553);
    let n_users = sizes.users.max(1);
    let mut times = creation_times(&mut g, n_users - 1, start + DAY, start + 400 * DAY, 0.0);
    times.insert(0, start);
    for (i, &t) in times.iter().enumerate() {
        let first = g.pick(&FIRST_NAMES);
        let last = g.pick(&LAST_NAMES);
        let username = if i == 0 {
            org.spec.username.clone()
        } else {
            format!(
                "{}.{}{}@{}.example.com",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                i,
                slug(&org.spec.org)
            )
        };
        let active = i == 0 || g.chance(0.9);
        let mut row = user_row(&mut g, UserSeed { first, last, username }, active);
        let creator = if i == 0 { org.next_id(Obj::User, true) } else { org.user_id(0) };
        let modified = modified_after(&mut g, t, now);
        stamp(Obj::User, &mut row, t, &creator, modified, &creator);
        org.push(Obj::User, row);
    }
    let user_ids: Vec<String> =
        org.table(Obj::User).rows.iter().map(|r| r.id().to_string()).collect();
    let active: Vec<usize> = (0..n_users)
        .filter(|&i| org.table(Obj::User).rows[i].vals[Obj::User.ix("IsActive")] == Val::Bool(true))
        .collect();
    let any_user = |g: &mut Gen| user_ids[active[g.index(active.len())]].clone();

    // Accounts, with a Zipf-like weight for how many cases each raises.
    let mut g = sf_gen(seed, 0x4143);
    let mut acct_times = creation_times(&mut g, sizes.accounts, start + DAY, now - DAY, 0.3);
    if let Some(first) = acct_times.first_mut() {
        // the org's first customer comes on day one, so every later record has an account
        *first = start + DAY;
    }
    let mut weights = Vec::with_capacity(sizes.accounts);
    for (i, &t) in acct_times.iter().enumerate() {
        let owner = any_user(&mut g);
        let parent = if i > 3 && g.chance(0.08) {
            Some(org.table(Obj::Account).rows[g.index(i)].id().to_string())
        } else {
            None
        };
        let mut row = account_row(&mut g, &owner, parent.as_deref(), i as u64);
        let creator = any_user(&mut g);
        let modified = modified_after(&mut g, t, now);
        let modifier = any_user(&mut g);
        stamp(Obj::Account, &mut row, t, &creator, modified, &modifier);
        org.push(Obj::Account, row);
        weights.push(1.0 / ((g.index(sizes.accounts.max(1)) + 1) as f64).powf(0.9));
    }
    let mut cum = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        cum.push(acc);
    }
    // an account created at or before t, by weight
    let pick_account = |g: &mut Gen, t: i64| -> Option<usize> {
        let last = created_upto(&acct_times, t)?;
        let x = g.rng.gen_range(0.0..cum[last].max(f64::MIN_POSITIVE));
        Some(cum.partition_point(|&c| c <= x).min(last))
    };

    // Contacts: every account gets some; accounts are picked uniformly among older ones.
    let mut g = sf_gen(seed, 0x434f);
    let contact_times = creation_times(&mut g, sizes.contacts, start + 2 * DAY, now - DAY / 2, 0.3);
    let mut contacts_of: Vec<Vec<(i64, usize)>> = vec![Vec::new(); sizes.accounts];
    for &t in &contact_times {
        let Some(last) = created_upto(&acct_times, t) else { continue };
        let a = g.index(last + 1);
        let mut row = contact_row(&mut g, &org.table(Obj::Account).rows[a]);
        let creator = any_user(&mut g);
        let modified = modified_after(&mut g, t, now);
        let modifier = any_user(&mut g);
        stamp(Obj::Contact, &mut row, t, &creator, modified, &modifier);
        let i = org.push(Obj::Contact, row);
        contacts_of[a].push((t, i));
    }
    let contact_rows = org.table(Obj::Contact).rows.len();
    debug_assert!(contact_rows <= sizes.contacts);

    // Cases.
    let mut g = sf_gen(seed, 0x4341);
    let case_times = creation_times(&mut g, sizes.cases, start + 3 * DAY, now - 60, 0.6);
    for &t in &case_times {
        let Some(a) = pick_account(&mut g, t) else { continue };
        let older: Vec<usize> =
            contacts_of[a].iter().take_while(|(ct, _)| *ct <= t).map(|(_, i)| *i).collect();
        let contact = (!older.is_empty() && g.chance(0.9))
            .then(|| org.table(Obj::Contact).rows[older[g.index(older.len())]].id().to_string());
        let owner = any_user(&mut g);
        let number = org.next_case_number();
        let account_id = org.table(Obj::Account).rows[a].id().to_string();
        let mut row = case_row(&mut g, number, &account_id, contact.as_deref(), &owner);
        let age_days = (now - t) as f64 / DAY as f64;
        let p_open = (0.9 * (-age_days / 6.0).exp()).max(0.02);
        let modified = if g.chance(p_open) {
            let status = CASE_OPEN[g.weighted(&[0.35, 0.5, 0.15])];
            set_case_status(&mut row, status, None);
            if status == "New" { t } else { g.range(t, now + 1) }
        } else {
            let closed = (t + g.lognormal(0.8 * DAY as f64, 1.4) as i64).min(now);
            if g.chance(0.08) {
                set_case_status(&mut row, "Escalated", None);
            }
            set_case_status(&mut row, CASE_CLOSED, Some(closed));
            if g.chance(0.9) { closed } else { g.range(closed, now + 1) }
        };
        let creator = contact.as_ref().map_or_else(|| owner.clone(), |_| any_user(&mut g));
        stamp(Obj::Case, &mut row, t, &creator, modified, &owner);
        org.push(Obj::Case, row);
    }

    // Opportunities.
    let mut g = sf_gen(seed, 0x4f50);
    let opp_times = creation_times(&mut g, sizes.opportunities, start + 3 * DAY, now - 60, 0.3);
    for &t in &opp_times {
        let Some(last) = created_upto(&acct_times, t) else { continue };
        let a = g.index(last + 1);
        let close_at = t + g.range(20, 150) * DAY;
        let stage = if close_at <= now {
            if g.chance(0.45) { STAGE_WON } else { STAGE_LOST }
        } else {
            g.index(STAGE_WON)
        };
        let mut row = opportunity_row(
            &mut g,
            &org.table(Obj::Account).rows[a],
            stage,
            close_at.div_euclid(DAY),
        );
        let modified = if close_at <= now { close_at } else { g.range(t, now + 1) };
        let owner = row[Obj::Opportunity.ix("OwnerId")].as_str().unwrap_or_default().to_string();
        let creator = any_user(&mut g);
        stamp(Obj::Opportunity, &mut row, t, &creator, modified, &owner);
        org.push(Obj::Opportunity, row);
    }
    org
}

impl Table {
    pub fn live(&self, is_deleted: usize) -> impl Iterator<Item = usize> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.vals[is_deleted] != Val::Bool(true))
            .map(|(i, _)| i)
    }
}

impl Org {
    /// The id the next record of `obj` gets; with `peek`, without taking it.
    pub fn next_id(&mut self, obj: Obj, peek: bool) -> String {
        let t = &mut self.tables[obj.index()];
        let id = make_id(obj.prefix(), &self.pod, t.next_counter);
        if !peek {
            t.next_counter += 1;
        }
        id
    }

    /// Appends a record with a fresh id.
    pub fn push(&mut self, obj: Obj, mut row: Vec<Val>) -> usize {
        row[super::schema::ID] = Val::id(self.next_id(obj, false));
        let t = &mut self.tables[obj.index()];
        t.rows.push(Rec { vals: row.into_boxed_slice(), deleted_at: None });
        t.rows.len() - 1
    }

    pub fn user_id(&self, i: usize) -> String {
        self.table(Obj::User).rows.get(i).map(|r| r.id().to_string()).unwrap_or_default()
    }

    pub fn next_case_number(&mut self) -> u64 {
        self.case_counter += 1;
        self.case_counter
    }
}
