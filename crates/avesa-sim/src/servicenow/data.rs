//! Tables, field dictionaries, compact rows and their JSON emission.
//!
//! Every table is a list of [`Row`]s kept sorted by `sys_id` (the Table API's default order),
//! each row a fixed array of [`V`] values laid out by the table's field dictionary
//! ([`Tab::fields`]). Values stay typed in memory (instants as Unix seconds, references as
//! 16-byte ids) and become the Table API's all-string JSON only when written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::SnTenantSpec;
use crate::sink::push_json_str;

/// A simulated table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Tab {
    Company = 0,
    User = 1,
    Contact = 2,
    Incident = 3,
    TimeWorked = 4,
    AuditDelete = 5,
}

impl Tab {
    pub const ALL: [Tab; 6] =
        [Tab::Company, Tab::User, Tab::Contact, Tab::Incident, Tab::TimeWorked, Tab::AuditDelete];

    /// Tables whose records advance changes (everything but the deletion log).
    pub const DATA: [Tab; 5] =
        [Tab::Company, Tab::User, Tab::Contact, Tab::Incident, Tab::TimeWorked];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Company => "core_company",
            Tab::User => "sys_user",
            Tab::Contact => "customer_contact",
            Tab::Incident => "incident",
            Tab::TimeWorked => "task_time_worked",
            Tab::AuditDelete => "sys_audit_delete",
        }
    }

    pub fn from_name(name: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Tab::Company => COMPANY_FIELDS,
            Tab::User => USER_FIELDS,
            Tab::Contact => CONTACT_FIELDS,
            Tab::Incident => INCIDENT_FIELDS,
            Tab::TimeWorked => TIME_WORKED_FIELDS,
            Tab::AuditDelete => AUDIT_DELETE_FIELDS,
        }
    }

    /// Index of a field by exact (lower-case) name.
    pub fn field(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name == name)
    }

    /// Index of a field the code knows exists.
    pub fn col(self, name: &str) -> usize {
        self.field(name).unwrap_or_else(|| panic!("{} has no field {name}", self.name()))
    }

    /// The field that names a record of this table in display values (ServiceNow falls back
    /// from the dictionary's display field to `name`, `number`, then `sys_created_on`).
    pub fn display_col(self) -> usize {
        match self {
            Tab::Incident => self.col("number"),
            Tab::Company | Tab::User | Tab::Contact => self.col("name"),
            Tab::TimeWorked | Tab::AuditDelete => self.col("sys_created_on"),
        }
    }
}

/// How a field's values behave in comparisons and display values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `sys_id` (the row's own id).
    Id,
    Str,
    Int,
    Bool,
    /// `glide_date_time`, `YYYY-MM-DD HH:MM:SS` UTC.
    Time,
    /// `glide_date`, `YYYY-MM-DD`.
    Date,
    /// `glide_duration`, `1970-01-01 HH:MM:SS`.
    Dur,
    /// A reference (the value carries the referenced table).
    Ref,
    /// A choice list: (value, label).
    Choice(&'static [(&'static str, &'static str)]),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Raw value of a new record (`""` for none), as the dictionary default sets it.
    pub default: &'static str,
}

impl Field {
    /// The value a new record holds before anything sets it.
    pub fn initial(&self) -> V {
        match (self.kind, self.default) {
            (_, "") => V::Empty,
            (Bool, d) => V::Bool(d == "true"),
            (_, d) => V::St(d),
        }
    }
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, default: "" }
}

/// A field whose new records hold `default`.
const fn d(name: &'static str, kind: Kind, default: &'static str) -> Field {
    Field { name, kind, default }
}

pub(crate) const STATES: &[(&str, &str)] = &[
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];
pub(crate) const LEVELS: &[(&str, &str)] =
    &[("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
pub(crate) const PRIORITIES: &[(&str, &str)] = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];
pub(crate) const CATEGORIES: &[(&str, &str)] = &[
    ("inquiry", "Inquiry / Help"),
    ("software", "Software"),
    ("hardware", "Hardware"),
    ("network", "Network"),
    ("database", "Database"),
];
pub(crate) const CONTACT_TYPES: &[(&str, &str)] = &[
    ("phone", "Phone"),
    ("email", "Email"),
    ("self-service", "Self-service"),
    ("walk-in", "Walk-in"),
    ("monitoring", "Monitoring"),
];
pub(crate) const WORK_CATEGORIES: &[(&str, &str)] =
    &[("task_work", "Task work"), ("admin", "Admin"), ("meeting", "Meeting"), ("travel", "Travel")];
pub(crate) const APPROVALS: &[(&str, &str)] = &[
    ("not requested", "Not Yet Requested"),
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
];
pub(crate) const ESCALATIONS: &[(&str, &str)] =
    &[("0", "Normal"), ("1", "Moderate"), ("2", "High"), ("3", "Overdue")];
pub(crate) const NOTIFY: &[(&str, &str)] = &[("1", "Do Not Notify"), ("2", "Send Email")];

use Kind::*;

const COMPANY_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("name", Str),
    f("customer", Bool),
    f("vendor", Bool),
    f("manufacturer", Bool),
    f("parent", Ref),
    f("street", Str),
    f("city", Str),
    f("state", Str),
    f("zip", Str),
    f("country", Str),
    f("phone", Str),
    f("fax_phone", Str),
    f("website", Str),
    f("notes", Str),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

const USER_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("user_name", Str),
    f("name", Str),
    f("first_name", Str),
    f("last_name", Str),
    f("email", Str),
    f("title", Str),
    f("manager", Ref),
    f("phone", Str),
    f("mobile_phone", Str),
    f("active", Bool),
    f("locked_out", Bool),
    f("last_login_time", Time),
    f("vip", Bool),
    f("time_zone", Str),
    f("sys_class_name", Str),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

const CONTACT_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("user_name", Str),
    f("name", Str),
    f("first_name", Str),
    f("last_name", Str),
    f("email", Str),
    f("phone", Str),
    f("mobile_phone", Str),
    f("title", Str),
    f("company", Ref),
    f("active", Bool),
    f("vip", Bool),
    f("sys_class_name", Str),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

const INCIDENT_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("number", Str),
    f("short_description", Str),
    f("description", Str),
    f("state", Choice(STATES)),
    f("incident_state", Choice(STATES)),
    f("priority", Choice(PRIORITIES)),
    f("impact", Choice(LEVELS)),
    f("urgency", Choice(LEVELS)),
    f("severity", Choice(LEVELS)),
    f("category", Choice(CATEGORIES)),
    f("subcategory", Str),
    f("contact_type", Choice(CONTACT_TYPES)),
    f("caller_id", Ref),
    f("opened_by", Ref),
    f("assigned_to", Ref),
    f("company", Ref),
    f("opened_at", Time),
    f("resolved_at", Time),
    f("resolved_by", Ref),
    f("closed_at", Time),
    f("closed_by", Ref),
    f("sla_due", Time),
    f("active", Bool),
    f("made_sla", Bool),
    f("reassignment_count", Int),
    f("reopen_count", Int),
    f("close_code", Str),
    f("close_notes", Str),
    f("business_duration", Dur),
    f("calendar_duration", Dur),
    f("business_stc", Int),
    f("calendar_stc", Int),
    // The rest of the task/incident dictionary, as every record carries it (the Table API
    // returns every column; empty ones as ""): references to tables the simulator does not
    // hold stay empty, defaults are the values a new incident gets.
    f("parent", Ref),
    f("parent_incident", Ref),
    f("child_incidents", Int),
    f("caused_by", Ref),
    f("problem_id", Ref),
    f("rfc", Ref),
    f("assignment_group", Ref),
    f("additional_assignee_list", Str),
    f("group_list", Str),
    f("watch_list", Str),
    f("work_notes_list", Str),
    f("location", Ref),
    f("cmdb_ci", Ref),
    f("business_service", Ref),
    f("delivery_plan", Ref),
    f("delivery_task", Ref),
    f("wf_activity", Ref),
    f("rejection_goto", Ref),
    d("approval", Choice(APPROVALS), "not requested"),
    f("approval_set", Time),
    f("approval_history", Str),
    f("upon_approval", Str),
    f("upon_reject", Str),
    d("escalation", Choice(ESCALATIONS), "0"),
    d("notify", Choice(NOTIFY), "1"),
    d("knowledge", Bool, "false"),
    f("order", Int),
    f("expected_start", Time),
    f("work_start", Time),
    f("work_end", Time),
    f("activity_due", Time),
    f("due_date", Time),
    f("follow_up", Time),
    f("correlation_id", Str),
    f("correlation_display", Str),
    f("user_input", Str),
    f("comments", Str),
    f("work_notes", Str),
    f("comments_and_work_notes", Str),
    d("sys_domain_path", Str, "/"),
    f("sys_class_name", Str),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

const TIME_WORKED_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("task", Ref),
    f("user", Ref),
    f("time_worked", Dur),
    f("time_in_seconds", Int),
    f("work_date", Date),
    f("comments", Str),
    f("category", Choice(WORK_CATEGORIES)),
    f("time_card", Ref),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

const AUDIT_DELETE_FIELDS: &[Field] = &[
    f("sys_id", Kind::Id),
    f("tablename", Str),
    f("documentkey", Str),
    f("display_value", Str),
    f("sys_created_on", Time),
    f("sys_created_by", Str),
    f("sys_updated_on", Time),
    f("sys_updated_by", Str),
    f("sys_mod_count", Int),
    f("sys_tags", Str),
];

/// A 32-hex `sys_id`, kept as 16 bytes (byte order = hex string order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Id(pub [u8; 16]);

impl Id {
    pub fn hex(&self) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        out
    }

    pub fn push(&self, out: &mut String) {
        let hex = self.hex();
        out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    }

    pub fn string(&self) -> String {
        let mut s = String::with_capacity(32);
        self.push(&mut s);
        s
    }

    /// Parses 32 hex digits (either case).
    pub fn parse(s: &str) -> Option<Id> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for i in 0..16 {
            let hi = (b[2 * i] as char).to_digit(16)?;
            let lo = (b[2 * i + 1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Id(out))
    }
}

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum V {
    Empty,
    S(Box<str>),
    St(&'static str),
    Int(i64),
    Bool(bool),
    /// Unix seconds (`Time`, `Date` and `Dur` fields alike; the field's kind picks the format).
    T(i64),
    Ref(Tab, Id),
}

impl V {
    pub fn s(s: impl Into<String>) -> V {
        let s: String = s.into();
        if s.is_empty() { V::Empty } else { V::S(s.into_boxed_str()) }
    }

    pub fn as_t(&self) -> Option<i64> {
        match self {
            V::T(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_int(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            _ => 0,
        }
    }

    pub fn as_ref_id(&self) -> Option<(Tab, Id)> {
        match self {
            V::Ref(t, id) => Some((*t, *id)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::S(s) => Some(s),
            V::St(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            V::Empty => true,
            V::S(s) => s.is_empty(),
            V::St(s) => s.is_empty(),
            _ => false,
        }
    }
}

/// One record: its id and one value per field of the table (index 0, `sys_id`, is unused).
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub id: Id,
    pub vals: Box<[V]>,
}

impl Row {
    pub fn new(t: Tab, id: Id) -> Row {
        Row { id, vals: t.fields().iter().map(Field::initial).collect() }
    }
}

/// Appends `secs` as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn push_datetime(out: &mut String, secs: i64) {
    let start = out.len();
    crate::time::push_ts(out, secs);
    out.pop(); // 'Z'
    out.replace_range(start + 10..start + 11, " ");
}

/// Appends the raw (`sysparm_display_value=false`) text of a value.
pub(crate) fn push_raw(out: &mut String, kind: Kind, v: &V) {
    match v {
        V::Empty => {}
        V::S(s) => out.push_str(s),
        V::St(s) => out.push_str(s),
        V::Int(i) => {
            let _ = write!(out, "{i}");
        }
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::T(t) => {
            if kind == Date {
                let start = out.len();
                push_datetime(out, *t);
                out.truncate(start + 10);
            } else {
                push_datetime(out, *t);
            }
        }
        V::Ref(_, id) => id.push(out),
    }
}

/// How a request wants records written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisplayMode {
    Raw,
    Display,
    All,
}

pub(crate) struct Emit<'a> {
    pub mode: DisplayMode,
    pub exclude_links: bool,
    /// Field indexes in output order; `None` for every field.
    pub fields: Option<&'a [usize]>,
    /// The instance URL reference links start with (`http://host:port/acme`).
    pub base: &'a str,
}

/// Everything one simulated instance holds.
pub(crate) struct Dataset {
    pub spec: SnTenantSpec,
    /// Simulated "now", Unix seconds.
    pub now: i64,
    /// Rows per [`Tab::index`], sorted by id.
    pub tables: Vec<Vec<Row>>,
    /// Next incident number (`INC00…`).
    pub next_number: u64,
    /// Ids deleted since generation, per table name.
    pub deleted: BTreeMap<String, Vec<String>>,
    /// Bumped by every advance (keys the query cache, seeds advance randomness).
    pub version: u64,
}

impl Dataset {
    pub fn rows(&self, t: Tab) -> &[Row] {
        &self.tables[t.index()]
    }

    pub fn find(&self, t: Tab, id: Id) -> Option<usize> {
        self.rows(t).binary_search_by(|r| r.id.cmp(&id)).ok()
    }

    pub fn get(&self, t: Tab, id: Id) -> Option<&Row> {
        self.find(t, id).map(|i| &self.rows(t)[i])
    }

    /// Inserts keeping id order; returns the index.
    pub fn insert(&mut self, t: Tab, row: Row) -> usize {
        let rows = &mut self.tables[t.index()];
        let at = rows.partition_point(|r| r.id < row.id);
        rows.insert(at, row);
        at
    }

    /// Appends the display value of field `col` of `row`.
    pub fn push_display(&self, out: &mut String, t: Tab, row: &Row, col: usize) {
        let field = t.fields()[col];
        let v = &row.vals[col];
        match (field.kind, v) {
            (Kind::Id, _) => row.id.push(out),
            (Choice(choices), v) => {
                let raw = v.as_str().unwrap_or_default();
                match choices.iter().find(|(value, _)| *value == raw) {
                    Some((_, label)) => out.push_str(label),
                    None => out.push_str(raw),
                }
            }
            (_, V::Ref(target, id)) => {
                if let Some(r) = self.get(*target, *id) {
                    let dc = target.display_col();
                    push_raw(out, target.fields()[dc].kind, &r.vals[dc]);
                }
            }
            (kind, v) => push_raw(out, kind, v),
        }
    }

    /// Writes one record as a JSON object.
    pub fn write_row(&self, out: &mut String, t: Tab, row: &Row, e: &Emit<'_>) {
        let fields = t.fields();
        out.push('{');
        let mut first = true;
        let mut one = |out: &mut String, col: usize| {
            if !first {
                out.push(',');
            }
            first = false;
            push_json_str(out, fields[col].name);
            out.push(':');
            self.write_value(out, t, row, col, e);
        };
        match e.fields {
            Some(cols) => cols.iter().for_each(|&c| one(out, c)),
            None => (0..fields.len()).for_each(|c| one(out, c)),
        }
        out.push('}');
    }

    fn write_value(&self, out: &mut String, t: Tab, row: &Row, col: usize, e: &Emit<'_>) {
        let kind = t.fields()[col].kind;
        let v = &row.vals[col];
        let mut text = String::new();
        let raw = |text: &mut String| {
            text.clear();
            if kind == Kind::Id {
                row.id.push(text);
            } else {
                push_raw(text, kind, v);
            }
        };
        if let V::Ref(target, id) = v {
            let mut link = String::with_capacity(e.base.len() + 64);
            link.push_str(e.base);
            link.push_str("/api/now/table/");
            link.push_str(target.name());
            link.push('/');
            id.push(&mut link);
            let mut value = String::with_capacity(32);
            id.push(&mut value);
            let mut display = String::new();
            if e.mode != DisplayMode::Raw {
                self.push_display(&mut display, t, row, col);
            }
            match (e.mode, e.exclude_links) {
                (DisplayMode::Raw, true) => push_json_str(out, &value),
                (DisplayMode::Raw, false) => {
                    out.push_str("{\"link\":");
                    push_json_str(out, &link);
                    out.push_str(",\"value\":");
                    push_json_str(out, &value);
                    out.push('}');
                }
                (DisplayMode::Display, true) => push_json_str(out, &display),
                (DisplayMode::Display, false) => {
                    out.push_str("{\"display_value\":");
                    push_json_str(out, &display);
                    out.push_str(",\"link\":");
                    push_json_str(out, &link);
                    out.push('}');
                }
                (DisplayMode::All, exclude) => {
                    out.push_str("{\"display_value\":");
                    push_json_str(out, &display);
                    if !exclude {
                        out.push_str(",\"link\":");
                        push_json_str(out, &link);
                    }
                    out.push_str(",\"value\":");
                    push_json_str(out, &value);
                    out.push('}');
                }
            }
            return;
        }
        match e.mode {
            DisplayMode::Raw => {
                raw(&mut text);
                push_json_str(out, &text);
            }
            DisplayMode::Display => {
                self.push_display(&mut text, t, row, col);
                push_json_str(out, &text);
            }
            DisplayMode::All => {
                self.push_display(&mut text, t, row, col);
                out.push_str("{\"display_value\":");
                push_json_str(out, &text);
                raw(&mut text);
                out.push_str(",\"value\":");
                push_json_str(out, &text);
                out.push('}');
            }
        }
    }
}
