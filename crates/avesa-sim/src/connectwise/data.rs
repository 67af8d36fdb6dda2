//! Compact in-memory rows of one simulated ConnectWise company, and how each row is
//! emitted on the wire (see [`crate::sink`]).
//!
//! Rows keep ids, indexes into the catalog and into other tables, and Unix seconds, never
//! JSON; references (company, contact, member) are resolved at emission time. Rows of a
//! table are kept sorted by `id` (new rows get larger ids), and no row is ever removed, so
//! an index into a table stays valid for the life of the dataset: a deleted contact, ticket
//! or time entry stays as a row marked `deleted` that the API no longer serves (see
//! [`Dataset::live`]); a deleted company is soft-deleted and still served, as ConnectWise
//! does.

use super::catalog::*;
use super::{CwCompanySpec, Table};
use crate::sink::{KeyTree, Sink};
use crate::time::date_only;

pub struct Member {
    pub id: i64,
    pub identifier: String,
    pub first: &'static str,
    pub last: &'static str,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub role: u8,
    pub inactive: bool,
    pub hired: i64,
    pub last_login: i64,
    pub time_zone: u8,
    pub last_updated: i64,
    pub updated_by: u16,
}

pub struct Company {
    pub id: i64,
    pub identifier: String,
    pub name: String,
    pub status: u8,
    pub kind: u8,
    pub address: String,
    pub suite: u16,
    pub city: u8,
    pub zip: String,
    pub phone: String,
    pub fax: String,
    pub website: String,
    pub industry: u8,
    pub default_contact: Option<u32>,
    pub acquired: i64,
    pub revenue: f64,
    pub employees: i64,
    pub manager: u16,
    pub has_agreement: bool,
    /// The managed-services agreement (index into `agreements`) tickets and time entries
    /// reference.
    pub agreement: Option<u32>,
    /// Share of tickets this company raises (not on the wire).
    pub weight: f64,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Soft deletion: when, and by which member.
    pub deleted: Option<(i64, u16)>,
}

pub struct Contact {
    pub id: i64,
    pub first: &'static str,
    pub last: &'static str,
    pub company: u32,
    pub title: &'static str,
    pub inactive: bool,
    pub phone: String,
    pub extension: u16,
    pub mobile: Option<String>,
    pub email: String,
    pub default_flag: bool,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct Ticket {
    pub id: i64,
    pub summary: String,
    pub board: u8,
    /// Index into the board's statuses.
    pub status: u8,
    pub company: u32,
    pub contact: Option<u32>,
    /// Index into the board's types.
    pub kind: u8,
    pub priority: u8,
    pub source: u8,
    pub severity: u8,
    pub impact: u8,
    pub owner: Option<u16>,
    pub location: u8,
    pub budget_hours: f64,
    pub actual_hours: f64,
    pub entered: i64,
    pub entered_by: u16,
    pub responded: Option<i64>,
    pub resolved: Option<i64>,
    pub closed: Option<i64>,
    pub closed_by: Option<u16>,
    pub required: Option<i64>,
    pub in_sla: bool,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct TimeEntry {
    pub id: i64,
    pub ticket: u32,
    pub company: u32,
    pub member: u16,
    pub work_type: u8,
    pub work_role: u8,
    pub start: i64,
    pub end: i64,
    /// In quarter hours.
    pub quarters: u16,
    pub billable: u8,
    pub notes: u8,
    pub status: u8,
    pub entered: i64,
    pub entered_by: u16,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct Agreement {
    pub id: i64,
    pub name: String,
    /// Index into [`AGREEMENT_TYPES`].
    pub kind: u8,
    pub company: u32,
    pub contact: Option<u32>,
    /// Index into [`AGREEMENT_STATUSES`].
    pub status: u8,
    /// Midnight UTC.
    pub start: i64,
    pub end: Option<i64>,
    /// Index into [`BILL_TIME`].
    pub bill_time: u8,
    pub work_role: u8,
    pub work_type: u8,
    pub entered: i64,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct Configuration {
    pub id: i64,
    pub name: String,
    /// Index into [`CONFIG_TYPES`].
    pub kind: u8,
    /// Index into [`CONFIG_STATUSES`].
    pub status: u8,
    pub company: u32,
    pub contact: Option<u32>,
    pub serial: String,
    /// Index into the type's models.
    pub model: u8,
    pub tag: String,
    pub purchased: i64,
    pub warranty: i64,
    pub installed: i64,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct Project {
    pub id: i64,
    pub name: String,
    pub company: u32,
    pub manager: u16,
    /// Index into [`PROJECT_STATUSES`].
    pub status: u8,
    pub est_start: i64,
    pub est_end: i64,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub budget_hours: f64,
    pub actual_hours: f64,
    /// Index into [`PROJECT_BILLING`].
    pub billing: u8,
    pub entered: i64,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

pub struct Opportunity {
    pub id: i64,
    pub name: String,
    pub company: u32,
    pub contact: Option<u32>,
    pub rep: u16,
    /// Index into [`OPP_STAGES`].
    pub stage: u8,
    /// Index into [`OPP_STATUSES`].
    pub status: u8,
    /// Index into [`OPP_PROBABILITIES`].
    pub probability: u8,
    /// Index into [`OPP_RATINGS`].
    pub rating: u8,
    pub expected_close: i64,
    pub closed: Option<i64>,
    pub total: f64,
    pub entered: i64,
    pub last_updated: i64,
    pub updated_by: u16,
    /// Deleted: no longer served.
    pub deleted: bool,
}

/// A service board (one per [`BOARDS`] entry, same order and ids).
pub struct BoardRow {
    pub id: i64,
    /// Index into [`BOARDS`].
    pub board: u8,
    /// Index into [`BOARD_LOCATIONS`].
    pub location: u8,
    /// Index into [`BOARD_DEPARTMENTS`].
    pub department: u8,
    pub last_updated: i64,
    pub updated_by: u16,
}

/// A board status (`BOARDS[board].statuses[status]`, id `status_base + status`).
pub struct StatusRow {
    pub id: i64,
    pub board: u8,
    pub status: u8,
    pub display: bool,
    pub last_updated: i64,
    pub updated_by: u16,
}

/// Everything one simulated ConnectWise company holds.
pub struct Dataset {
    pub spec: CwCompanySpec,
    /// Simulated "now", Unix seconds.
    pub now: i64,
    pub members: Vec<Member>,
    pub companies: Vec<Company>,
    pub contacts: Vec<Contact>,
    pub tickets: Vec<Ticket>,
    pub entries: Vec<TimeEntry>,
    pub agreements: Vec<Agreement>,
    pub configurations: Vec<Configuration>,
    pub projects: Vec<Project>,
    pub opportunities: Vec<Opportunity>,
    pub boards: Vec<BoardRow>,
    /// All boards' statuses, in id order.
    pub statuses: Vec<StatusRow>,
    /// Contact indexes per company index.
    pub company_contacts: Vec<Vec<u32>>,
    /// Learned record shapes, by [`Table::index`].
    pub schemas: Vec<KeyTree>,
    /// Number of `advance` calls so far (seeds each advance's randomness).
    pub advances: u64,
    /// Ids of the rows deleted so far that the API no longer serves, by [`Table::index`], in
    /// deletion order.
    pub vanished: [Vec<i64>; Table::COUNT],
}

fn href(out: &mut String, path: &str, id: i64) {
    out.clear();
    out.push_str(HREF_BASE);
    out.push('/');
    out.push_str(path);
    out.push('/');
    out.push_str(&id.to_string());
}

/// `{id, [identifier], name, _info: {<kind>_href}}`
fn reference(
    s: &mut dyn Sink,
    key: &str,
    id: i64,
    identifier: Option<&str>,
    name: &str,
    href_key: &str,
    path: &str,
) {
    s.obj(key, |s| {
        s.int("id", id);
        if let Some(ident) = identifier {
            s.str("identifier", ident);
        }
        s.str("name", name);
        s.obj("_info", |s| {
            let mut h = String::with_capacity(96);
            href(&mut h, path, id);
            s.str(href_key, &h);
        });
    });
}

/// A deterministic version-4-style GUID for (seed, table, id).
fn guid(seed: u64, salt: u64, id: i64) -> String {
    let mut x = seed
        ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (id as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A deterministic draw in `0..n` for (seed, salt, id), for per-record choices made at
/// emission time (they must not consume the generators' streams, so existing data stays as
/// it was for a seed).
fn draw(seed: u64, salt: u64, id: i64, n: u64) -> u64 {
    let mut z = seed
        ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (id as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n
}

/// `first` with `percent`% probability for (seed, salt, id), else `second`.
fn either(
    seed: u64,
    salt: u64,
    id: i64,
    percent: u64,
    first: &'static str,
    second: &'static str,
) -> &'static str {
    if draw(seed, salt, id, 100) < percent { first } else { second }
}

impl Dataset {
    pub fn len(&self, t: Table) -> usize {
        match t {
            Table::Companies => self.companies.len(),
            Table::Contacts => self.contacts.len(),
            Table::Tickets => self.tickets.len(),
            Table::TimeEntries => self.entries.len(),
            Table::Members => self.members.len(),
            Table::Agreements => self.agreements.len(),
            Table::Configurations => self.configurations.len(),
            Table::Projects => self.projects.len(),
            Table::Opportunities => self.opportunities.len(),
            Table::Boards => self.boards.len(),
            Table::BoardStatuses => self.statuses.len(),
        }
    }

    /// Rows the API serves (deleted contacts, tickets and time entries are not).
    pub fn live_len(&self, t: Table) -> usize {
        self.len(t) - self.vanished[t.index()].len()
    }

    /// Whether the API serves row `i` of `t`.
    pub fn live(&self, t: Table, i: usize) -> bool {
        match t {
            Table::Contacts => !self.contacts[i].deleted,
            Table::Tickets => !self.tickets[i].deleted,
            Table::TimeEntries => !self.entries[i].deleted,
            Table::Agreements => !self.agreements[i].deleted,
            Table::Configurations => !self.configurations[i].deleted,
            Table::Projects => !self.projects[i].deleted,
            Table::Opportunities => !self.opportunities[i].deleted,
            Table::Companies | Table::Members | Table::Boards | Table::BoardStatuses => true,
        }
    }

    /// Indexes of the rows the API serves, in id order.
    pub fn live_rows(&self, t: Table) -> Vec<usize> {
        if self.vanished[t.index()].is_empty() {
            (0..self.len(t)).collect()
        } else {
            (0..self.len(t)).filter(|&i| self.live(t, i)).collect()
        }
    }

    pub fn id_at(&self, t: Table, i: usize) -> i64 {
        match t {
            Table::Companies => self.companies[i].id,
            Table::Contacts => self.contacts[i].id,
            Table::Tickets => self.tickets[i].id,
            Table::TimeEntries => self.entries[i].id,
            Table::Members => self.members[i].id,
            Table::Agreements => self.agreements[i].id,
            Table::Configurations => self.configurations[i].id,
            Table::Projects => self.projects[i].id,
            Table::Opportunities => self.opportunities[i].id,
            Table::Boards => self.boards[i].id,
            Table::BoardStatuses => self.statuses[i].id,
        }
    }

    pub fn last_updated_at(&self, t: Table, i: usize) -> i64 {
        match t {
            Table::Companies => self.companies[i].last_updated,
            Table::Contacts => self.contacts[i].last_updated,
            Table::Tickets => self.tickets[i].last_updated,
            Table::TimeEntries => self.entries[i].last_updated,
            Table::Members => self.members[i].last_updated,
            Table::Agreements => self.agreements[i].last_updated,
            Table::Configurations => self.configurations[i].last_updated,
            Table::Projects => self.projects[i].last_updated,
            Table::Opportunities => self.opportunities[i].last_updated,
            Table::Boards => self.boards[i].last_updated,
            Table::BoardStatuses => self.statuses[i].last_updated,
        }
    }

    /// Index of the row with this id (rows are sorted by id).
    pub fn find(&self, t: Table, id: i64) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len(t));
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.id_at(t, mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    pub fn emit(&self, t: Table, i: usize, s: &mut dyn Sink) {
        match t {
            Table::Companies => self.emit_company(&self.companies[i], s),
            Table::Contacts => self.emit_contact(&self.contacts[i], s),
            Table::Tickets => self.emit_ticket(&self.tickets[i], s),
            Table::TimeEntries => self.emit_entry(&self.entries[i], s),
            Table::Members => self.emit_member(&self.members[i], s),
            Table::Agreements => self.emit_agreement(&self.agreements[i], s),
            Table::Configurations => self.emit_configuration(&self.configurations[i], s),
            Table::Projects => self.emit_project(&self.projects[i], s),
            Table::Opportunities => self.emit_opportunity(&self.opportunities[i], s),
            Table::Boards => self.emit_board(&self.boards[i], s),
            Table::BoardStatuses => self.emit_status(&self.statuses[i], s),
        }
    }

    /// Re-learns every table's shape from a sample of its rows.
    pub fn learn_schemas(&mut self) {
        let mut schemas = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            let mut tree = KeyTree::default();
            let n = self.len(t);
            let step = (n / 400).max(1);
            for i in (0..n).step_by(step) {
                tree.learn(|s| self.emit(t, i, s));
            }
            schemas.push(tree);
        }
        self.schemas = schemas;
    }

    fn updated_by(&self, m: u16) -> &str {
        self.members.get(m as usize).map_or("Admin", |m| m.identifier.as_str())
    }

    fn member_ref(&self, s: &mut dyn Sink, key: &str, m: Option<u16>) {
        match m.and_then(|m| self.members.get(m as usize)) {
            Some(m) => reference(
                s,
                key,
                m.id,
                Some(&m.identifier),
                &m.name,
                "member_href",
                "system/members",
            ),
            None => s.null(key),
        }
    }

    fn company_ref(&self, s: &mut dyn Sink, key: &str, c: u32) {
        let c = &self.companies[c as usize];
        reference(s, key, c.id, Some(&c.identifier), &c.name, "company_href", "company/companies");
    }

    fn contact_name(&self, c: &Contact) -> String {
        format!("{} {}", c.first, c.last)
    }

    /// The member time and expense approvals go to: the first active one in the approver
    /// role, else the first member.
    fn approver(&self) -> Option<u16> {
        let i = self.members.iter().position(|m| m.role == APPROVER_ROLE && !m.inactive);
        Some(i.unwrap_or(0) as u16).filter(|&i| (i as usize) < self.members.len())
    }

    /// A member. The fields ConnectWise's member schema requires (so every member has them)
    /// are all emitted: `defaultEmail`/`defaultPhone` (Office/Mobile/Home), security role,
    /// structure level, locations, department, approvers and the screen/invoicing display
    /// preferences. Choices not kept on the row are drawn per member from the seed.
    fn emit_member(&self, m: &Member, s: &mut dyn Sink) {
        let seed = self.spec.seed;
        s.int("id", m.id);
        s.str("identifier", &m.identifier);
        s.str("firstName", m.first);
        s.str("lastName", m.last);
        s.str("officeEmail", &m.email);
        s.str("officePhone", &m.phone);
        s.str("mobilePhone", &format!("813555{:04}", 100 + draw(seed, 101, m.id, 9_900)));
        // Members have only an office address; about a quarter are called on their mobile.
        s.str("defaultEmail", "Office");
        s.str("defaultPhone", either(seed, 102, m.id, 75, "Office", "Mobile"));
        s.bool("inactiveFlag", m.inactive);
        s.str("title", ROLE_TITLES[m.role as usize]);
        s.str("licenseClass", "F");
        let (sr_id, sr_name) = ROLE_SECURITY[m.role as usize];
        s.obj("securityRole", |s| {
            s.int("id", sr_id);
            s.str("name", sr_name);
        });
        s.bool("adminFlag", false);
        s.obj("structureLevel", |s| {
            s.int("id", MEMBER_STRUCTURE.0);
            s.str("name", MEMBER_STRUCTURE.1);
        });
        let (loc_id, loc_name) = BOARD_LOCATIONS[usize::from(draw(seed, 103, m.id, 100) >= 70)];
        for key in ["securityLocation", "defaultLocation"] {
            reference(s, key, loc_id, None, loc_name, "location_href", "system/locations");
        }
        let (d_id, d_name) = BOARD_DEPARTMENTS[ROLE_DEPARTMENT[m.role as usize] as usize];
        reference(
            s,
            "defaultDepartment",
            d_id,
            None,
            d_name,
            "department_href",
            "system/departments",
        );
        let (tz_id, tz_name) = TIME_ZONES[m.time_zone as usize];
        s.obj("timeZone", |s| {
            s.int("id", tz_id);
            s.str("name", tz_name);
        });
        let (role_id, role_name, _) = WORK_ROLES[m.role as usize];
        reference(s, "workRole", role_id, None, role_name, "workRole_href", "time/workRoles");
        let approver = self.approver();
        self.member_ref(s, "timeApprover", approver);
        self.member_ref(s, "expenseApprover", approver);
        s.time("hireDate", m.hired);
        // Sales territory, by the member's time zone (East, Central, Mountain, West).
        let (t_id, t_name) = TERRITORIES[m.time_zone as usize % TERRITORIES.len()];
        reference(
            s,
            "salesDefaultLocation",
            t_id,
            None,
            t_name,
            "location_href",
            "system/locations",
        );
        s.str("companyActivityTabFormat", either(seed, 104, m.id, 80, "SummaryList", "DetailList"));
        s.str("invoiceTimeTabFormat", either(seed, 105, m.id, 80, "SummaryList", "DetailList"));
        s.str(
            "invoiceScreenDefaultTabFormat",
            either(seed, 106, m.id, 85, "ShowInvoicingTab", "ShowAgreementInvoicingTab"),
        );
        s.str(
            "invoicingDisplayOptions",
            either(seed, 107, m.id, 75, "RemainOnInvoicingScreen", "ShowRecentInvoices"),
        );
        s.str(
            "agreementInvoicingDisplayOptions",
            either(seed, 108, m.id, 60, "RemainOnInvoicingScreen", "ShowRecentInvoices"),
        );
        s.time("lastLogin", m.last_login);
        s.str("mobileGuid", &guid(self.spec.seed, 5, m.id));
        s.obj("_info", |s| {
            s.time("lastUpdated", m.last_updated);
            s.str("updatedBy", self.updated_by(m.updated_by));
            s.str("image_href", &format!("{HREF_BASE}/system/members/{}/image", m.id));
        });
    }

    fn emit_company(&self, c: &Company, s: &mut dyn Sink) {
        let (city, state, _, territory) = CITIES[c.city as usize];
        s.int("id", c.id);
        s.str("identifier", &c.identifier);
        s.str("name", &c.name);
        let (status_id, status_name) = COMPANY_STATUSES[c.status as usize];
        reference(
            s,
            "status",
            status_id,
            None,
            status_name,
            "status_href",
            "company/companies/statuses",
        );
        s.str("addressLine1", &c.address);
        if c.suite > 0 {
            s.str("addressLine2", &format!("Suite {}", c.suite));
        } else {
            s.null("addressLine2");
        }
        s.str("city", city);
        s.str("state", state);
        s.str("zip", &c.zip);
        reference(s, "country", 1, None, "United States", "country_href", "company/countries");
        s.str("phoneNumber", &c.phone);
        s.str("faxNumber", &c.fax);
        s.str("website", &c.website);
        let (t_id, t_name) = TERRITORIES[territory];
        reference(s, "territory", t_id, None, t_name, "location_href", "system/locations");
        let (_, m_id, m_name) = INDUSTRIES[c.industry as usize];
        reference(s, "market", m_id, None, m_name, "Market_href", "company/marketDescriptions");
        s.str("accountNumber", &format!("A{:05}", c.id));
        match c.default_contact.map(|i| &self.contacts[i as usize]) {
            Some(ct) => reference(
                s,
                "defaultContact",
                ct.id,
                None,
                &self.contact_name(ct),
                "contact_href",
                "company/contacts",
            ),
            None => s.null("defaultContact"),
        }
        s.time("dateAcquired", c.acquired);
        s.num("annualRevenue", c.revenue);
        s.int("numberOfEmployees", c.employees);
        s.bool("leadFlag", false);
        s.bool("unsubscribeFlag", false);
        reference(
            s,
            "billingTerms",
            1,
            None,
            "Net 30 days",
            "billingTerms_href",
            "finance/billingTerms",
        );
        reference(s, "taxCode", 11, None, "Tax-State", "taxCode_href", "finance/taxCodes");
        reference(
            s,
            "billToCompany",
            c.id,
            Some(&c.identifier),
            &c.name,
            "company_href",
            "company/companies",
        );
        s.obj("currency", |s| {
            s.int("id", 7);
            s.str("symbol", "$");
            s.str("currencyCode", "USD");
            s.str("name", "US Dollars");
        });
        self.member_ref(s, "territoryManager", Some(c.manager));
        s.bool("isVendorFlag", COMPANY_TYPES[c.kind as usize].1 == "Vendor");
        let (type_id, type_name, _) = COMPANY_TYPES[c.kind as usize];
        s.arr("types", 1, |_, s| {
            s.int("id", type_id);
            s.str("name", type_name);
            s.obj("_info", |s| {
                s.str("type_href", &format!("{HREF_BASE}/company/companies/types/{type_id}"))
            });
        });
        s.obj("site", |s| {
            s.int("id", c.id * 10 + 1);
            s.str("name", "Main");
        });
        s.bool("deletedFlag", c.deleted.is_some());
        s.opt_time("dateDeleted", c.deleted.map(|(at, _)| at));
        s.opt_str("deletedBy", c.deleted.map(|(_, by)| self.updated_by(by)));
        s.str("mobileGuid", &guid(self.spec.seed, 1, c.id));
        s.arr("customFields", 0, |_, _| {});
        s.obj("_info", |s| {
            s.time("lastUpdated", c.last_updated);
            s.str("updatedBy", self.updated_by(c.updated_by));
            s.str(
                "contacts_href",
                &format!("{HREF_BASE}/company/contacts?conditions=company/id={}", c.id),
            );
            s.str("sites_href", &format!("{HREF_BASE}/company/companies/{}/sites", c.id));
        });
    }

    fn emit_contact(&self, c: &Contact, s: &mut dyn Sink) {
        s.int("id", c.id);
        s.str("firstName", c.first);
        s.str("lastName", c.last);
        self.company_ref(s, "company", c.company);
        let company = &self.companies[c.company as usize];
        s.obj("site", |s| {
            s.int("id", company.id * 10 + 1);
            s.str("name", "Main");
        });
        s.bool("inactiveFlag", c.inactive);
        s.str("title", c.title);
        s.str("defaultPhoneType", "Direct");
        s.str("defaultPhoneNbr", &c.phone);
        if c.extension > 0 {
            s.str("defaultPhoneExtension", &c.extension.to_string());
        } else {
            s.null("defaultPhoneExtension");
        }
        s.bool("defaultFlag", c.default_flag);
        s.bool("defaultBillingFlag", c.default_flag);
        s.str("portalSecurityLevel", if c.default_flag { "6" } else { "1" });
        s.bool("disablePortalLoginFlag", c.inactive);
        s.bool("unsubscribeFlag", false);
        s.arr("types", 0, |_, _| {});
        let n = if c.mobile.is_some() { 3 } else { 2 };
        let domain = c.email.split_once('@').map_or("", |(_, d)| d);
        s.arr("communicationItems", n, |i, s| {
            s.int("id", c.id * 10 + i as i64);
            let (type_id, type_name) = [(1, "Email"), (2, "Direct"), (4, "Cell")][i];
            s.obj("type", |s| {
                s.int("id", type_id);
                s.str("name", type_name);
                s.obj("_info", |s| {
                    s.str("type_href", &format!("{HREF_BASE}/company/communicationTypes/{type_id}"))
                });
            });
            match i {
                0 => {
                    s.str("value", &c.email);
                    s.null("extension");
                    s.bool("defaultFlag", true);
                    s.str("domain", &format!("@{domain}"));
                    s.str("communicationType", "Email");
                }
                1 => {
                    s.str("value", &c.phone);
                    if c.extension > 0 {
                        s.str("extension", &c.extension.to_string());
                    } else {
                        s.null("extension");
                    }
                    s.bool("defaultFlag", true);
                    s.str("communicationType", "Phone");
                }
                _ => {
                    s.str("value", c.mobile.as_deref().unwrap_or_default());
                    s.null("extension");
                    s.bool("defaultFlag", false);
                    s.str("communicationType", "Phone");
                }
            }
        });
        s.str("mobileGuid", &guid(self.spec.seed, 2, c.id));
        s.obj("_info", |s| {
            s.time("lastUpdated", c.last_updated);
            s.str("updatedBy", self.updated_by(c.updated_by));
            s.str(
                "communications_href",
                &format!("{HREF_BASE}/company/contacts/{}/communications", c.id),
            );
        });
    }

    /// The managed-services agreement tickets and time entries of this company reference.
    pub fn agreement(&self, company: u32) -> Option<(i64, String)> {
        let a = &self.agreements[self.companies[company as usize].agreement? as usize];
        Some((a.id, a.name.clone()))
    }

    fn emit_ticket(&self, t: &Ticket, s: &mut dyn Sink) {
        let board = &BOARDS[t.board as usize];
        let company = &self.companies[t.company as usize];
        let (city, state, _, _) = CITIES[company.city as usize];
        s.int("id", t.id);
        s.str("summary", &t.summary);
        s.str("recordType", "ServiceTicket");
        reference(s, "board", board.id, None, board.name, "board_href", "service/boards");
        let status_name = board.statuses[t.status as usize];
        let status_id = board.status_base + t.status as i64;
        s.obj("status", |s| {
            s.int("id", status_id);
            s.str("name", status_name);
            s.int("Sort", t.status as i64);
            s.obj("_info", |s| {
                s.str(
                    "status_href",
                    &format!("{HREF_BASE}/service/boards/{}/statuses/{status_id}", board.id),
                )
            });
        });
        self.company_ref(s, "company", t.company);
        s.obj("site", |s| {
            s.int("id", company.id * 10 + 1);
            s.str("name", "Main");
        });
        s.str("siteName", "Main");
        s.str("addressLine1", &company.address);
        s.str("city", city);
        s.str("stateIdentifier", state);
        s.str("zip", &company.zip);
        let contact = t.contact.map(|i| &self.contacts[i as usize]);
        match contact {
            Some(ct) => {
                let name = self.contact_name(ct);
                reference(s, "contact", ct.id, None, &name, "contact_href", "company/contacts");
                s.str("contactName", &name);
                s.str("contactPhoneNumber", &ct.phone);
                s.str("contactEmailAddress", &ct.email);
            }
            None => {
                s.null("contact");
                s.null("contactName");
                s.null("contactPhoneNumber");
                s.null("contactEmailAddress");
            }
        }
        let type_id = board.type_base + t.kind as i64;
        reference(
            s,
            "type",
            type_id,
            None,
            board.types[t.kind as usize],
            "type_href",
            "service/boards/types",
        );
        s.null("subType");
        s.null("item");
        let (team_id, team_name) = board.team;
        reference(s, "team", team_id, None, team_name, "team_href", "service/boards/teams");
        self.member_ref(s, "owner", t.owner);
        let (p_id, p_name, p_sort, _, _, _) = PRIORITIES[t.priority as usize];
        s.obj("priority", |s| {
            s.int("id", p_id);
            s.str("name", p_name);
            s.int("sort", p_sort);
            s.obj("_info", |s| {
                s.str("priority_href", &format!("{HREF_BASE}/service/priorities/{p_id}"));
                s.str(
                    "image_href",
                    &format!("{HREF_BASE}/service/priorities/{p_id}/image?lm=2020-01-01T00:00:00Z"),
                );
            });
        });
        let (l_id, l_name) = SERVICE_LOCATIONS[t.location as usize];
        reference(s, "serviceLocation", l_id, None, l_name, "location_href", "service/locations");
        let (src_id, src_name, _) = SOURCES[t.source as usize];
        reference(s, "source", src_id, None, src_name, "source_href", "service/sources");
        s.opt_time("requiredDate", t.required);
        s.num("budgetHours", t.budget_hours);
        s.num("actualHours", t.actual_hours);
        s.bool("approved", true);
        s.opt_str("closedBy", t.closed_by.map(|m| self.updated_by(m)));
        s.bool("closedFlag", t.closed.is_some());
        s.opt_time("closedDate", t.closed);
        s.opt_time("dateResolved", t.resolved);
        s.opt_time("dateResponded", t.responded);
        let (_, _, _, _, respond_plan, _) = PRIORITIES[t.priority as usize];
        s.int("respondMinutes", t.responded.map_or(0, |r| (r - t.entered) / 60));
        s.int("resPlanMinutes", respond_plan);
        s.int("resolveMinutes", t.resolved.map_or(0, |r| (r - t.entered) / 60));
        s.bool("isInSla", t.in_sla);
        reference(s, "sla", 1, None, "Standard SLA", "sla_href", "service/SLAs");
        s.str("severity", LEVELS[t.severity as usize]);
        s.str("impact", LEVELS[t.impact as usize]);
        match self.agreement(t.company) {
            Some((id, name)) => {
                reference(s, "agreement", id, None, &name, "agreement_href", "finance/agreements")
            }
            None => s.null("agreement"),
        }
        s.str("billTime", "Billable");
        s.str("billExpenses", "Billable");
        s.str("billProducts", "Billable");
        s.opt_int("parentTicketId", None);
        s.bool("hasChildTicket", false);
        s.bool("hasMergedChildTicketFlag", false);
        match t.owner.and_then(|m| self.members.get(m as usize)) {
            Some(m) => s.str("resources", &m.identifier),
            None => s.null("resources"),
        }
        s.str("mobileGuid", &guid(self.spec.seed, 3, t.id));
        s.arr("customFields", 0, |_, _| {});
        s.obj("_info", |s| {
            s.time("lastUpdated", t.last_updated);
            s.str("updatedBy", self.updated_by(t.updated_by));
            s.time("dateEntered", t.entered);
            s.str("enteredBy", self.updated_by(t.entered_by));
            for sub in [
                "activities",
                "scheduleentries",
                "documents",
                "configurations",
                "tasks",
                "notes",
                "products",
                "timeentries",
            ] {
                let path = if sub == "activities" {
                    format!("{HREF_BASE}/sales/activities?conditions=ticket/id={}", t.id)
                } else {
                    format!("{HREF_BASE}/service/tickets/{}/{sub}", t.id)
                };
                s.str(&format!("{sub}_href"), &path);
            }
        });
    }

    fn emit_entry(&self, e: &TimeEntry, s: &mut dyn Sink) {
        let ticket = &self.tickets[e.ticket as usize];
        let hours = e.quarters as f64 / 4.0;
        let billable = BILLABLE[e.billable as usize].0;
        s.int("id", e.id);
        self.company_ref(s, "company", e.company);
        s.int("chargeToId", ticket.id);
        s.str("chargeToType", "ServiceTicket");
        s.obj("ticket", |s| {
            s.int("id", ticket.id);
            s.str("summary", &ticket.summary);
            s.obj("_info", |s| {
                s.str("ticket_href", &format!("{HREF_BASE}/service/tickets/{}", ticket.id))
            });
        });
        self.member_ref(s, "member", Some(e.member));
        s.int("locationId", 2);
        s.int("businessUnitId", 10);
        let (wt_id, wt_name) = WORK_TYPES[e.work_type as usize];
        reference(s, "workType", wt_id, None, wt_name, "workType_href", "time/workTypes");
        let (wr_id, wr_name, rate) = WORK_ROLES[e.work_role as usize];
        reference(s, "workRole", wr_id, None, wr_name, "workRole_href", "time/workRoles");
        match self.agreement(ticket.company) {
            Some((id, name)) => {
                reference(s, "agreement", id, None, &name, "agreement_href", "finance/agreements")
            }
            None => s.null("agreement"),
        }
        s.time("timeStart", e.start);
        s.time("timeEnd", e.end);
        s.num("hoursDeduct", 0.0);
        s.num("actualHours", hours);
        s.str("billableOption", billable);
        s.str("notes", ENTRY_NOTES[e.notes as usize]);
        s.bool("addToDetailDescriptionFlag", false);
        s.bool("addToInternalAnalysisFlag", true);
        s.bool("addToResolutionFlag", false);
        s.bool("emailResourceFlag", false);
        s.bool("emailContactFlag", false);
        s.bool("emailCcFlag", false);
        let billed = if billable == "DoNotBill" { 0.0 } else { hours };
        s.num("hoursBilled", billed);
        s.num("invoiceHours", if e.status == ENTRY_BILLED { billed } else { 0.0 });
        s.str("enteredBy", self.updated_by(e.entered_by));
        s.time("dateEntered", e.entered);
        if e.status == ENTRY_BILLED {
            let month = e.start.div_euclid(86_400 * 30);
            let invoice_id = month * 1000 + e.company as i64 % 1000;
            s.obj("invoice", |s| {
                s.int("id", invoice_id);
                s.str("identifier", &format!("INV{invoice_id}"));
                s.obj("_info", |s| {
                    s.str("invoice_href", &format!("{HREF_BASE}/finance/invoices/{invoice_id}"))
                });
            });
        } else {
            s.null("invoice");
        }
        s.str("mobileGuid", &guid(self.spec.seed, 4, e.id));
        s.num("hourlyRate", rate);
        let day = e.start.div_euclid(86_400);
        let week_start = day - (day + 4).rem_euclid(7);
        let sheet_id = week_start / 7 * 1000 + e.member as i64 % 1000;
        s.obj("timeSheet", |s| {
            s.int("id", sheet_id);
            s.str(
                "name",
                &format!(
                    "{} to {}",
                    date_only(week_start * 86_400),
                    date_only((week_start + 6) * 86_400)
                ),
            );
            s.obj("_info", |s| {
                s.str("timeSheet_href", &format!("{HREF_BASE}/time/sheets/{sheet_id}"))
            });
        });
        s.str("status", ENTRY_STATUSES[e.status as usize]);
        s.obj("_info", |s| {
            s.time("lastUpdated", e.last_updated);
            s.str("updatedBy", self.updated_by(e.updated_by));
            s.str("chargeToMobileGuid", &guid(self.spec.seed, 3, ticket.id));
        });
    }
}

impl Dataset {
    fn contact_ref(&self, s: &mut dyn Sink, key: &str, c: Option<u32>) {
        match c.map(|i| &self.contacts[i as usize]) {
            Some(ct) => reference(
                s,
                key,
                ct.id,
                None,
                &self.contact_name(ct),
                "contact_href",
                "company/contacts",
            ),
            None => s.null(key),
        }
    }

    fn board_ref(&self, s: &mut dyn Sink, board: usize) {
        let b = &BOARDS[board];
        reference(s, "board", b.id, None, b.name, "board_href", "service/boards");
    }

    fn emit_agreement(&self, a: &Agreement, s: &mut dyn Sink) {
        s.int("id", a.id);
        s.str("name", &a.name);
        let (type_id, type_name) = AGREEMENT_TYPES[a.kind as usize];
        reference(s, "type", type_id, None, type_name, "type_href", "finance/agreements/types");
        self.company_ref(s, "company", a.company);
        self.contact_ref(s, "contact", a.contact);
        s.str("agreementStatus", AGREEMENT_STATUSES[a.status as usize]);
        s.bool("cancelledFlag", a.status == AGREEMENT_CANCELLED);
        s.time("startDate", a.start);
        s.opt_time("endDate", a.end);
        s.bool("noEndingDateFlag", a.end.is_none());
        s.str("billTime", BILL_TIME[a.bill_time as usize]);
        let (wr_id, wr_name, _) = WORK_ROLES[a.work_role as usize];
        reference(s, "workRole", wr_id, None, wr_name, "workRole_href", "time/workRoles");
        let (wt_id, wt_name) = WORK_TYPES[a.work_type as usize];
        reference(s, "workType", wt_id, None, wt_name, "workType_href", "time/workTypes");
        s.str("applicationUnits", "Amount");
        s.obj("_info", |s| {
            s.time("lastUpdated", a.last_updated);
            s.str("updatedBy", self.updated_by(a.updated_by));
            s.time("dateEntered", a.entered);
            s.str("additions_href", &format!("{HREF_BASE}/finance/agreements/{}/additions", a.id));
        });
    }

    fn emit_configuration(&self, c: &Configuration, s: &mut dyn Sink) {
        let (type_id, type_name, _, models, _) = CONFIG_TYPES[c.kind as usize];
        let (status_id, status_name, active) = CONFIG_STATUSES[c.status as usize];
        let company = &self.companies[c.company as usize];
        s.int("id", c.id);
        s.str("name", &c.name);
        reference(s, "type", type_id, None, type_name, "type_href", "company/configurations/types");
        reference(
            s,
            "status",
            status_id,
            None,
            status_name,
            "status_href",
            "company/configurations/statuses",
        );
        self.company_ref(s, "company", c.company);
        self.contact_ref(s, "contact", c.contact);
        s.obj("site", |s| {
            s.int("id", company.id * 10 + 1);
            s.str("name", "Main");
        });
        s.str("serialNumber", &c.serial);
        s.str("modelNumber", models[c.model as usize % models.len()]);
        s.str("tagNumber", &c.tag);
        s.time("purchaseDate", c.purchased);
        s.time("installationDate", c.installed);
        s.time("warrantyExpirationDate", c.warranty);
        s.bool("activeFlag", active);
        s.str("mobileGuid", &guid(self.spec.seed, 6, c.id));
        s.obj("_info", |s| {
            s.time("lastUpdated", c.last_updated);
            s.str("updatedBy", self.updated_by(c.updated_by));
        });
    }

    fn emit_project(&self, p: &Project, s: &mut dyn Sink) {
        s.int("id", p.id);
        s.str("name", &p.name);
        self.company_ref(s, "company", p.company);
        self.member_ref(s, "manager", Some(p.manager));
        self.board_ref(s, PROJECTS_BOARD);
        let (status_id, status_name, closed) = PROJECT_STATUSES[p.status as usize];
        reference(s, "status", status_id, None, status_name, "status_href", "project/statuses");
        s.time("estimatedStart", p.est_start);
        s.time("estimatedEnd", p.est_end);
        s.opt_time("actualStart", p.actual_start);
        s.opt_time("actualEnd", p.actual_end);
        s.num("budgetHours", p.budget_hours);
        s.num("actualHours", p.actual_hours);
        s.str("billingMethod", PROJECT_BILLING[p.billing as usize]);
        s.bool("closedFlag", closed);
        s.obj("_info", |s| {
            s.time("lastUpdated", p.last_updated);
            s.str("updatedBy", self.updated_by(p.updated_by));
            s.time("dateEntered", p.entered);
            s.str("phases_href", &format!("{HREF_BASE}/project/projects/{}/phases", p.id));
        });
    }

    fn emit_opportunity(&self, o: &Opportunity, s: &mut dyn Sink) {
        s.int("id", o.id);
        s.str("name", &o.name);
        self.company_ref(s, "company", o.company);
        self.contact_ref(s, "contact", o.contact);
        let company = &self.companies[o.company as usize];
        s.obj("site", |s| {
            s.int("id", company.id * 10 + 1);
            s.str("name", "Main");
        });
        self.member_ref(s, "primarySalesRep", Some(o.rep));
        let (stage_id, stage_name, _) = OPP_STAGES[o.stage as usize];
        reference(s, "stage", stage_id, None, stage_name, "stage_href", "sales/stages");
        let (status_id, status_name, closed) = OPP_STATUSES[o.status as usize];
        reference(
            s,
            "status",
            status_id,
            None,
            status_name,
            "status_href",
            "sales/opportunities/statuses",
        );
        let (p_id, p_name) = OPP_PROBABILITIES[o.probability as usize];
        reference(s, "probability", p_id, None, p_name, "probability_href", "sales/probabilities");
        let (r_id, r_name) = OPP_RATINGS[o.rating as usize];
        reference(s, "rating", r_id, None, r_name, "rating_href", "sales/opportunities/ratings");
        s.time("expectedCloseDate", o.expected_close);
        s.opt_time("closedDate", o.closed);
        s.bool("closedFlag", closed);
        s.num("totalSales", o.total);
        s.obj("_info", |s| {
            s.time("lastUpdated", o.last_updated);
            s.str("updatedBy", self.updated_by(o.updated_by));
            s.time("dateEntered", o.entered);
        });
    }

    fn emit_board(&self, b: &BoardRow, s: &mut dyn Sink) {
        let board = &BOARDS[b.board as usize];
        s.int("id", b.id);
        s.str("name", board.name);
        let (l_id, l_name) = BOARD_LOCATIONS[b.location as usize];
        reference(s, "location", l_id, None, l_name, "location_href", "system/locations");
        let (d_id, d_name) = BOARD_DEPARTMENTS[b.department as usize];
        reference(s, "department", d_id, None, d_name, "department_href", "system/departments");
        s.bool("inactiveFlag", false);
        s.bool("projectFlag", b.board as usize == PROJECTS_BOARD);
        s.obj("_info", |s| {
            s.time("lastUpdated", b.last_updated);
            s.str("updatedBy", self.updated_by(b.updated_by));
            s.str("statuses_href", &format!("{HREF_BASE}/service/boards/{}/statuses", b.id));
            s.str("types_href", &format!("{HREF_BASE}/service/boards/{}/types", b.id));
        });
    }

    fn emit_status(&self, st: &StatusRow, s: &mut dyn Sink) {
        let board = &BOARDS[st.board as usize];
        let name = board.statuses[st.status as usize];
        let closed = is_closed_status(name);
        s.int("id", st.id);
        s.str("name", name);
        self.board_ref(s, st.board as usize);
        s.int("sortOrder", st.status as i64);
        s.bool("displayOnBoard", st.display);
        s.bool("inactive", false);
        s.bool("closedStatus", closed);
        s.bool("defaultFlag", st.status == 0);
        s.bool("timeEntryNotAllowed", closed);
        let escalation = if name == STATUS_NEW {
            "NotResponded"
        } else if closed {
            "Resolved"
        } else {
            "Responded"
        };
        s.str("escalationStatus", escalation);
        s.obj("_info", |s| {
            s.time("lastUpdated", st.last_updated);
            s.str("updatedBy", self.updated_by(st.updated_by));
        });
    }
}
