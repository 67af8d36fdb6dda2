//! The directory of one simulated tenant: users and groups, their change sequence, and the
//! deterministic generation of the initial data.
//!
//! Every object carries the tenant-wide change sequence number of its last change
//! ([`Meta::seq`]). A create, update or delete takes the next number, so numbers are unique
//! and a delta round "from position P" is simply the objects with `seq > P` in `seq` order —
//! read through [`Store::by_seq`], without copying anything per token.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use super::{GraphSizes, GraphTenantSpec, Kind};
use crate::connectwise::catalog::{FIRST_NAMES, LAST_NAMES};

const DAY: i64 = 86_400;

pub(crate) use crate::rng::Gen;

/// FNV-1a over a string, for salts and checksums.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

// ---------------------------------------------------------------------------------------------
// Catalogs

pub(crate) const DEPARTMENTS: [(&str, &[&str]); 8] = [
    ("Sales", &["Account Executive", "Sales Manager", "Sales Development Representative"]),
    ("Marketing", &["Marketing Manager", "Content Strategist", "Marketing Coordinator"]),
    ("Finance", &["Accountant", "Controller", "Financial Analyst", "Payroll Specialist"]),
    ("Human Resources", &["HR Generalist", "Recruiter", "HR Manager"]),
    ("Operations", &["Operations Manager", "Office Manager", "Logistics Coordinator"]),
    ("IT", &["IT Manager", "Systems Administrator", "Help Desk Technician"]),
    ("Engineering", &["Software Engineer", "Project Engineer", "Engineering Manager"]),
    ("Customer Service", &["Customer Service Representative", "Support Lead"]),
];

const OFFICES: [(&str, &str, &str); 6] = [
    ("Seattle", "US", "+1 206"),
    ("Chicago", "US", "+1 312"),
    ("Austin", "US", "+1 512"),
    ("Boston", "US", "+1 617"),
    ("London", "GB", "+44 20"),
    ("Toronto", "CA", "+1 416"),
];

const GUEST_DOMAINS: [&str; 6] = [
    "contoso.com",
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "outlook.com",
    "gmail.com",
];

const TEAM_NAMES: [&str; 16] = [
    "Leadership Team",
    "Project Phoenix",
    "Office Events",
    "Quarterly Planning",
    "Product Launch",
    "Safety Committee",
    "Client Onboarding",
    "Vendor Management",
    "Social Club",
    "Training and Enablement",
    "Budget Review",
    "Website Refresh",
    "Compliance",
    "Facilities",
    "Innovation Lab",
    "All Company",
];

const GROUP_DESCRIPTIONS: [&str; 6] = [
    "Collaboration space for {name}",
    "{name} members and resources",
    "Shared mailbox, calendar and files for {name}",
    "Team site for {name}",
    "Discussion and documents for {name}",
    "{name} working group",
];

/// Visible change texts for group description updates.
const DESCRIPTION_NOTES: [&str; 5] = [
    "(updated owners)",
    "(reviewed)",
    "(archived files moved)",
    "(new members welcome)",
    "(renamed channel)",
];

// ---------------------------------------------------------------------------------------------
// Objects

/// Change bookkeeping of one object.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    /// Tenant-wide change sequence number of the last create/update/delete.
    pub seq: u64,
    /// Simulated time (Unix seconds) of that change.
    #[cfg_attr(not(test), allow(dead_code))]
    pub changed_at: i64,
    pub deleted: bool,
}

/// Properties of `microsoft.graph.user` the simulator serves, in schema order (`id` first).
pub(crate) const USER_PROPS: [&str; 18] = [
    "id",
    "accountEnabled",
    "businessPhones",
    "companyName",
    "createdDateTime",
    "department",
    "displayName",
    "employeeId",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

/// What `/users` returns without `$select` (docs/vendor-apis.md §4.3).
pub(crate) const USER_DEFAULT: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Properties of `microsoft.graph.group` the simulator serves, in schema order: the default
/// set `GET /groups` returns (Microsoft's list-groups example). Without `$select` all of them
/// are returned.
pub(crate) const GROUP_PROPS: [&str; 27] = [
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesLastSyncDateTime",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
];

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub account_enabled: bool,
    pub business_phones: Vec<String>,
    pub company_name: Option<String>,
    pub created: i64,
    pub department: Option<String>,
    pub display_name: String,
    pub employee_id: Option<String>,
    pub given_name: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub mobile_phone: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    pub surname: Option<String>,
    pub usage_location: Option<String>,
    pub user_principal_name: String,
    pub guest: bool,
    pub meta: Meta,
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: String,
    pub created: i64,
    pub description: Option<String>,
    pub display_name: String,
    pub group_types: Vec<&'static str>,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub mail_nickname: String,
    pub renewed: i64,
    pub security_enabled: bool,
    pub visibility: Option<&'static str>,
    /// The rule of a dynamic-membership group.
    pub membership_rule: Option<String>,
    pub meta: Meta,
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// One directory object type.
pub(crate) trait Obj {
    fn id(&self) -> &str;
    fn meta(&self) -> &Meta;
    fn meta_mut(&mut self) -> &mut Meta;
    /// The value of property `name` (one of the kind's property names).
    fn prop(&self, name: &str) -> Value;
}

impl Obj for User {
    fn id(&self) -> &str {
        &self.id
    }
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
    fn prop(&self, name: &str) -> Value {
        match name {
            "id" => json!(self.id),
            "accountEnabled" => json!(self.account_enabled),
            "businessPhones" => json!(self.business_phones),
            "companyName" => opt(&self.company_name),
            "createdDateTime" => json!(crate::time::ts(self.created)),
            "department" => opt(&self.department),
            "displayName" => json!(self.display_name),
            "employeeId" => opt(&self.employee_id),
            "givenName" => opt(&self.given_name),
            "jobTitle" => opt(&self.job_title),
            "mail" => opt(&self.mail),
            "mobilePhone" => opt(&self.mobile_phone),
            "officeLocation" => opt(&self.office_location),
            "preferredLanguage" => opt(&self.preferred_language),
            "surname" => opt(&self.surname),
            "usageLocation" => opt(&self.usage_location),
            "userPrincipalName" => json!(self.user_principal_name),
            "userType" => json!(if self.guest { "Guest" } else { "Member" }),
            _ => Value::Null,
        }
    }
}

impl Obj for Group {
    fn id(&self) -> &str {
        &self.id
    }
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
    fn prop(&self, name: &str) -> Value {
        match name {
            "id" => json!(self.id),
            "createdDateTime" => json!(crate::time::ts(self.created)),
            "description" => opt(&self.description),
            "displayName" => json!(self.display_name),
            "groupTypes" => json!(self.group_types),
            "mail" => opt(&self.mail),
            "mailEnabled" => json!(self.mail_enabled),
            "mailNickname" => json!(self.mail_nickname),
            "renewedDateTime" => json!(crate::time::ts(self.renewed)),
            "securityEnabled" => json!(self.security_enabled),
            "visibility" => self.visibility.map_or(Value::Null, |v| json!(v)),
            "membershipRule" => opt(&self.membership_rule),
            "membershipRuleProcessingState" => {
                self.membership_rule.as_ref().map_or(Value::Null, |_| json!("On"))
            }
            "proxyAddresses" => match &self.mail {
                Some(mail) => json!([format!("SMTP:{mail}")]),
                None => json!([]),
            },
            "resourceBehaviorOptions"
            | "resourceProvisioningOptions"
            | "onPremisesProvisioningErrors" => json!([]),
            // deletedDateTime, classification, expirationDateTime, isAssignableToRole,
            // onPremises*, preferred*, theme: not set on the simulated groups.
            _ => Value::Null,
        }
    }
}

/// `obj` as a JSON object with the named properties, in the given order.
pub(crate) fn to_json<T: Obj>(obj: &T, props: &[&str]) -> Value {
    let mut m = Map::new();
    for p in props {
        m.insert((*p).to_string(), obj.prop(p));
    }
    Value::Object(m)
}

/// All objects of one kind, live and deleted.
pub(crate) struct Store<T> {
    /// Every object ever, append-only; indexes below point into it.
    pub objs: Vec<T>,
    /// Live objects by id (list order).
    pub by_id: BTreeMap<String, u32>,
    /// Every object (live or deleted) by the sequence number of its last change.
    pub by_seq: BTreeMap<u64, u32>,
    /// Ids deleted since generation, in deletion order.
    pub deleted: Vec<String>,
}

impl<T: Obj> Store<T> {
    fn new() -> Self {
        Store {
            objs: Vec::new(),
            by_id: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            deleted: Vec::new(),
        }
    }

    pub fn live(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.by_id.get(id).map(|&i| &self.objs[i as usize])
    }

    /// Adds a new object (its meta already stamped).
    pub fn insert(&mut self, obj: T) {
        let i = self.objs.len() as u32;
        self.by_id.insert(obj.id().to_string(), i);
        self.by_seq.insert(obj.meta().seq, i);
        self.objs.push(obj);
    }

    /// Changes a live object: `f` edits it, then it is stamped with `seq` at `at`.
    pub fn touch(&mut self, id: &str, seq: u64, at: i64, f: impl FnOnce(&mut T)) -> bool {
        let Some(&i) = self.by_id.get(id) else { return false };
        let obj = &mut self.objs[i as usize];
        f(obj);
        let old = obj.meta().seq;
        *obj.meta_mut() = Meta { seq, changed_at: at, deleted: false };
        self.by_seq.remove(&old);
        self.by_seq.insert(seq, i);
        true
    }

    /// Deletes a live object, keeping a tombstone for delta.
    pub fn delete(&mut self, id: &str, seq: u64, at: i64) -> bool {
        let Some(i) = self.by_id.remove(id) else { return false };
        let obj = &mut self.objs[i as usize];
        let old = obj.meta().seq;
        *obj.meta_mut() = Meta { seq, changed_at: at, deleted: true };
        self.by_seq.remove(&old);
        self.by_seq.insert(seq, i);
        self.deleted.push(id.to_string());
        true
    }
}

/// One simulated Entra ID directory.
pub(crate) struct Directory {
    pub spec: GraphTenantSpec,
    /// Simulated now, Unix seconds.
    pub now: i64,
    /// Last change sequence number handed out (tenant-wide).
    pub seq: u64,
    pub users: Store<User>,
    pub groups: Store<Group>,
    /// Delta tokens issued under an older epoch are expired.
    pub delta_epoch: u64,
    /// Generation stream for advances (names, ids of created objects).
    pub rng: Gen,
    /// Lower-cased user principal names and mail nicknames in use.
    pub used_names: HashSet<String>,
}

impl Directory {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn live(&self, kind: Kind) -> usize {
        match kind {
            Kind::Users => self.users.live(),
            Kind::Groups => self.groups.live(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation

/// The tenant's organisation name as it appears in `companyName` ("acme" → "Acme").
pub(crate) fn org_name(spec: &GraphTenantSpec) -> String {
    let base = spec.domain.split('.').next().unwrap_or(&spec.domain);
    base.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ascii_lower(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// A new user created at `created`.
pub(crate) fn new_user(
    g: &mut Gen,
    spec: &GraphTenantSpec,
    org: &str,
    used: &mut HashSet<String>,
    employee_no: usize,
    created: i64,
) -> User {
    let first = g.pick(&FIRST_NAMES);
    let last = g.pick(&LAST_NAMES);
    let guest = g.chance(0.08);
    let (office, country, area) = g.pick(&OFFICES);
    if guest {
        let domain = g.pick(&GUEST_DOMAINS);
        let mut local = format!("{}.{}", ascii_lower(first), ascii_lower(last));
        let mut n = 2;
        while !used.insert(format!("{local}@{domain}")) {
            local = format!("{}.{}{n}", ascii_lower(first), ascii_lower(last));
            n += 1;
        }
        let mail = format!("{local}@{domain}");
        let upn = format!("{}#EXT#@{}", mail.replace('@', "_"), spec.domain);
        return User {
            id: g.guid(),
            account_enabled: true,
            business_phones: Vec::new(),
            company_name: None,
            created,
            department: None,
            display_name: format!("{first} {last}"),
            employee_id: None,
            given_name: g.chance(0.5).then(|| first.to_string()),
            job_title: None,
            mail: Some(mail),
            mobile_phone: None,
            office_location: None,
            preferred_language: None,
            surname: g.chance(0.5).then(|| last.to_string()),
            usage_location: None,
            user_principal_name: upn,
            guest: true,
            meta: Meta { seq: 0, changed_at: created, deleted: false },
        };
    }
    let mut local = format!("{}.{}", ascii_lower(first), ascii_lower(last));
    let mut n = 2;
    while !used.insert(format!("{local}@{}", spec.domain)) {
        local = format!("{}.{}{n}", ascii_lower(first), ascii_lower(last));
        n += 1;
    }
    let upn = format!("{local}@{}", spec.domain);
    let (department, titles) = g.pick(&DEPARTMENTS);
    let has_details = g.chance(0.9);
    User {
        id: g.guid(),
        account_enabled: g.chance(0.93),
        business_phones: if g.chance(0.7) {
            vec![format!("{area} 555 {:04}", g.range(100, 10_000))]
        } else {
            Vec::new()
        },
        company_name: g.chance(0.8).then(|| org.to_string()),
        created,
        department: has_details.then(|| department.to_string()),
        display_name: format!("{first} {last}"),
        employee_id: g.chance(0.75).then(|| format!("E{:05}", 10_000 + employee_no)),
        given_name: Some(first.to_string()),
        job_title: has_details.then(|| g.pick(titles).to_string()),
        mail: g.chance(0.97).then(|| upn.clone()),
        mobile_phone: g.chance(0.45).then(|| format!("{area} 555 {:04}", g.range(100, 10_000))),
        office_location: g.chance(0.85).then(|| office.to_string()),
        preferred_language: g
            .chance(0.6)
            .then(|| if country == "US" { "en-US" } else { "en-GB" }.to_string()),
        surname: Some(last.to_string()),
        usage_location: g.chance(0.9).then(|| country.to_string()),
        user_principal_name: upn,
        guest: false,
        meta: Meta { seq: 0, changed_at: created, deleted: false },
    }
}

/// A new group created at `created`.
pub(crate) fn new_group(
    g: &mut Gen,
    spec: &GraphTenantSpec,
    used: &mut HashSet<String>,
    n: usize,
    created: i64,
    now: i64,
) -> Group {
    let kind = g.index(10);
    let (name, nick_base, dept) = if kind < 5 {
        let name = if n < TEAM_NAMES.len() {
            TEAM_NAMES[n].to_string()
        } else {
            format!("{} {}", g.pick(&TEAM_NAMES), n / TEAM_NAMES.len() + 1)
        };
        let nick = name.replace(' ', "");
        (name, nick, None)
    } else {
        let (dept, _) = g.pick(&DEPARTMENTS);
        let suffix = g.pick(&["Users", "Admins", "File Share", "VPN Access", "Managers"]);
        let name = format!("SG-{} {}", dept.replace(' ', ""), suffix);
        let nick = format!("SG-{}-{}", dept.replace(' ', ""), suffix.replace(' ', ""));
        (name, nick, Some(dept))
    };
    let mut nick = nick_base.clone();
    let mut k = 2;
    while !used.insert(format!("group:{}", nick.to_ascii_lowercase())) {
        nick = format!("{nick_base}{k}");
        k += 1;
    }
    let display_name = if nick == nick_base { name } else { format!("{name} {}", k - 1) };
    let description =
        g.chance(0.8).then(|| g.pick(&GROUP_DESCRIPTIONS).replace("{name}", &display_name));
    let (group_types, mail_enabled, security_enabled, visibility): (
        Vec<&'static str>,
        bool,
        bool,
        Option<&'static str>,
    ) = match kind {
        0..=4 => {
            (vec!["Unified"], true, false, Some(if g.chance(0.7) { "Private" } else { "Public" }))
        }
        5..=7 => (Vec::new(), false, true, None),
        8 => (vec!["DynamicMembership"], false, true, None),
        _ => (Vec::new(), true, true, None),
    };
    let mail = mail_enabled.then(|| format!("{nick}@{}", spec.domain));
    // Microsoft 365 groups renew every 180 days when an expiration policy applies.
    let renewed = if group_types.contains(&"Unified") && g.chance(0.5) {
        let r = created + 180 * DAY;
        if r < now { g.range(r, now) } else { created }
    } else {
        created
    };
    // A dynamic group takes in its department's users.
    let membership_rule = group_types
        .contains(&"DynamicMembership")
        .then(|| format!("(user.department -eq \"{}\")", dept.unwrap_or_default()));
    Group {
        id: g.guid(),
        created,
        description,
        display_name,
        group_types,
        mail,
        mail_enabled,
        mail_nickname: nick,
        renewed,
        security_enabled,
        visibility,
        membership_rule,
        meta: Meta { seq: 0, changed_at: created, deleted: false },
    }
}

/// Generates a directory from its spec. Objects get sequence numbers 1..n in creation order.
pub(crate) fn generate(spec: GraphTenantSpec) -> Directory {
    let now = spec.now.timestamp();
    let start = now - 730 * DAY;
    let org = org_name(&spec);
    let salt = fnv(&spec.tenant_id);
    let GraphSizes { users, groups } = spec.sizes.clone();
    let mut used = HashSet::new();

    let mut g = Gen::new(spec.seed ^ salt, 0x5553_4552);
    let mut user_list: Vec<User> = Vec::with_capacity(users);
    let mut created: Vec<i64> = (0..users).map(|_| g.range(start, now)).collect();
    created.sort_unstable();
    for (i, c) in created.into_iter().enumerate() {
        user_list.push(new_user(&mut g, &spec, &org, &mut used, i, c));
    }

    let mut g = Gen::new(spec.seed ^ salt, 0x4752_5550);
    let mut group_list: Vec<Group> = Vec::with_capacity(groups);
    let mut created: Vec<i64> = (0..groups).map(|_| g.range(start, now)).collect();
    created.sort_unstable();
    for (i, c) in created.into_iter().enumerate() {
        group_list.push(new_group(&mut g, &spec, &mut used, i, c, now));
    }

    // One change sequence over both kinds, in creation-time order.
    let mut order: Vec<(i64, Kind, usize)> = user_list
        .iter()
        .enumerate()
        .map(|(i, u)| (u.created, Kind::Users, i))
        .chain(group_list.iter().enumerate().map(|(i, g)| (g.created, Kind::Groups, i)))
        .collect();
    order.sort_by_key(|&(t, k, i)| (t, k as u8, i));
    for (seq, (_, kind, i)) in order.into_iter().enumerate() {
        let seq = seq as u64 + 1;
        match kind {
            Kind::Users => user_list[i].meta.seq = seq,
            Kind::Groups => group_list[i].meta.seq = seq,
        }
    }
    let seq = (users + groups) as u64;
    let mut dir = Directory {
        now,
        seq,
        users: Store::new(),
        groups: Store::new(),
        delta_epoch: 0,
        rng: Gen::new(spec.seed ^ salt, 0x4144_5641),
        used_names: used,
        spec,
    };
    for u in user_list {
        dir.users.insert(u);
    }
    for gr in group_list {
        dir.groups.insert(gr);
    }
    dir
}

/// A note appended to a group description by an update.
pub(crate) fn description_note(g: &mut Gen) -> &'static str {
    g.pick(&DESCRIPTION_NOTES)
}
