//! The simulated sObjects, their fields, how a record is held in memory and how it is
//! written on the wire.
//!
//! A record is a boxed slice of [`Val`]s in its object's field order (see [`Obj::fields`]):
//! `Id` first, the object's own fields, then the six system fields every sObject has
//! (`IsDeleted`, `CreatedDate`, `CreatedById`, `LastModifiedDate`, `LastModifiedById`,
//! `SystemModstamp`). Rows of a table are kept in creation order, which is also `Id` order
//! (see [`make_id`]), and no row is ever removed (a delete only flags it), so a row index
//! stays valid for the life of the org.

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::sink::push_json_str;

/// A field's type, as far as SOQL cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// The record's own 18-character id.
    Id,
    /// A reference (lookup) to another record's id.
    Ref,
    /// Text, email, phone, URL, text area.
    Str,
    /// Picklist (text on the wire).
    Pick,
    Bool,
    Int,
    /// Double, currency or percent.
    Num,
    /// Instant, held in milliseconds since the Unix epoch.
    DateTime,
    /// Calendar date, held in days since 1970-01-01.
    Date,
}

impl Ty {
    /// The type name in Salesforce's error messages.
    pub fn soap_name(self) -> &'static str {
        match self {
            Ty::Id | Ty::Ref => "id",
            Ty::Str | Ty::Pick => "string",
            Ty::Bool => "boolean",
            Ty::Int => "integer",
            Ty::Num => "double",
            Ty::DateTime => "dateTime",
            Ty::Date => "date",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, Ty::Id | Ty::Ref | Ty::Str | Ty::Pick)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
}

const fn f(name: &'static str, ty: Ty) -> Field {
    Field { name, ty }
}

macro_rules! object_fields {
    ($($field:expr),* $(,)?) => {
        &[
            f("Id", Ty::Id),
            $($field,)*
            f("IsDeleted", Ty::Bool),
            f("CreatedDate", Ty::DateTime),
            f("CreatedById", Ty::Ref),
            f("LastModifiedDate", Ty::DateTime),
            f("LastModifiedById", Ty::Ref),
            f("SystemModstamp", Ty::DateTime),
        ]
    };
}

const ACCOUNT: &[Field] = object_fields![
    f("Name", Ty::Str),
    f("Type", Ty::Pick),
    f("Industry", Ty::Pick),
    f("AccountNumber", Ty::Str),
    f("ParentId", Ty::Ref),
    f("OwnerId", Ty::Ref),
    f("Phone", Ty::Str),
    f("Website", Ty::Str),
    f("AnnualRevenue", Ty::Num),
    f("NumberOfEmployees", Ty::Int),
    f("BillingStreet", Ty::Str),
    f("BillingCity", Ty::Str),
    f("BillingState", Ty::Str),
    f("BillingPostalCode", Ty::Str),
    f("BillingCountry", Ty::Str),
    f("Description", Ty::Str),
];

const CONTACT: &[Field] = object_fields![
    f("AccountId", Ty::Ref),
    f("FirstName", Ty::Str),
    f("LastName", Ty::Str),
    f("Name", Ty::Str),
    f("Email", Ty::Str),
    f("Phone", Ty::Str),
    f("MobilePhone", Ty::Str),
    f("Title", Ty::Str),
    f("Department", Ty::Str),
    f("MailingStreet", Ty::Str),
    f("MailingCity", Ty::Str),
    f("MailingState", Ty::Str),
    f("MailingPostalCode", Ty::Str),
    f("MailingCountry", Ty::Str),
    f("OwnerId", Ty::Ref),
    f("LeadSource", Ty::Pick),
];

const CASE: &[Field] = object_fields![
    f("CaseNumber", Ty::Str),
    f("AccountId", Ty::Ref),
    f("ContactId", Ty::Ref),
    f("Subject", Ty::Str),
    f("Description", Ty::Str),
    f("Status", Ty::Pick),
    f("Priority", Ty::Pick),
    f("Origin", Ty::Pick),
    f("Type", Ty::Pick),
    f("Reason", Ty::Pick),
    f("IsClosed", Ty::Bool),
    f("ClosedDate", Ty::DateTime),
    f("IsEscalated", Ty::Bool),
    f("OwnerId", Ty::Ref),
];

const OPPORTUNITY: &[Field] = object_fields![
    f("AccountId", Ty::Ref),
    f("Name", Ty::Str),
    f("StageName", Ty::Pick),
    f("Amount", Ty::Num),
    f("Probability", Ty::Num),
    f("CloseDate", Ty::Date),
    f("Type", Ty::Pick),
    f("LeadSource", Ty::Pick),
    f("ForecastCategory", Ty::Pick),
    f("IsClosed", Ty::Bool),
    f("IsWon", Ty::Bool),
    f("OwnerId", Ty::Ref),
];

const USER: &[Field] = object_fields![
    f("Username", Ty::Str),
    f("Name", Ty::Str),
    f("FirstName", Ty::Str),
    f("LastName", Ty::Str),
    f("Email", Ty::Str),
    f("Title", Ty::Str),
    f("Department", Ty::Str),
    f("IsActive", Ty::Bool),
    f("UserType", Ty::Pick),
    // Required on every user (not nillable): the alias and the locale settings.
    f("Alias", Ty::Str),
    f("TimeZoneSidKey", Ty::Pick),
    f("LocaleSidKey", Ty::Pick),
    f("EmailEncodingKey", Ty::Pick),
    f("LanguageLocaleKey", Ty::Pick),
];

/// Fields of `obj` that are never null (`nillable: false` in describe), besides booleans.
pub fn required(obj: Obj, name: &str) -> bool {
    matches!(
        name,
        "Id" | "IsDeleted"
            | "CreatedDate"
            | "CreatedById"
            | "LastModifiedDate"
            | "LastModifiedById"
            | "SystemModstamp"
    ) || (obj == Obj::User
        && matches!(
            name,
            "Username"
                | "LastName"
                | "Email"
                | "Alias"
                | "TimeZoneSidKey"
                | "LocaleSidKey"
                | "EmailEncodingKey"
                | "LanguageLocaleKey"
        ))
}

/// A simulated sObject type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Obj {
    Account,
    Contact,
    Case,
    Opportunity,
    User,
}

impl Obj {
    pub const ALL: [Obj; 5] = [Obj::Account, Obj::Contact, Obj::Case, Obj::Opportunity, Obj::User];

    pub fn name(self) -> &'static str {
        match self {
            Obj::Account => "Account",
            Obj::Contact => "Contact",
            Obj::Case => "Case",
            Obj::Opportunity => "Opportunity",
            Obj::User => "User",
        }
    }

    /// The key prefix of the object's ids.
    pub fn prefix(self) -> &'static str {
        match self {
            Obj::Account => "001",
            Obj::Contact => "003",
            Obj::Case => "500",
            Obj::Opportunity => "006",
            Obj::User => "005",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Case-insensitive lookup by API name.
    pub fn from_name(name: &str) -> Option<Obj> {
        Obj::ALL.into_iter().find(|o| o.name().eq_ignore_ascii_case(name))
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Obj::Account => ACCOUNT,
            Obj::Contact => CONTACT,
            Obj::Case => CASE,
            Obj::Opportunity => OPPORTUNITY,
            Obj::User => USER,
        }
    }

    /// Case-insensitive lookup of a field's position.
    pub fn field(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Position of a field the simulator itself names (exact spelling).
    pub fn ix(self, name: &str) -> usize {
        let pos = self.fields().iter().position(|f| f.name == name);
        debug_assert!(pos.is_some(), "{} has no field {name}", self.name());
        pos.unwrap_or(0)
    }

    pub fn sys(self) -> Sys {
        let n = self.fields().len();
        Sys {
            is_deleted: n - 6,
            created: n - 5,
            created_by: n - 4,
            modified: n - 3,
            modified_by: n - 2,
            modstamp: n - 1,
        }
    }
}

/// Positions of the system fields of one object.
#[derive(Clone, Copy, Debug)]
pub struct Sys {
    pub is_deleted: usize,
    pub created: usize,
    pub created_by: usize,
    pub modified: usize,
    pub modified_by: usize,
    pub modstamp: usize,
}

pub const ID: usize = 0;

/// One field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Box<str>),
    /// An 18-character id, inline (most fields of a record are ids).
    Id([u8; 18]),
    /// A picklist value or other text from a fixed list.
    Pick(&'static str),
    /// Milliseconds since the Unix epoch.
    Time(i64),
    /// Days since 1970-01-01.
    Date(i32),
}

impl Val {
    pub fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into().into_boxed_str())
    }

    /// An id value: inline when it is 18 ASCII characters (always, for the simulator's own).
    pub fn id(s: impl AsRef<str>) -> Val {
        let s = s.as_ref();
        match <[u8; 18]>::try_from(s.as_bytes()) {
            Ok(b) if s.is_ascii() => Val::Id(b),
            _ => Val::str(s),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Id(b) => std::str::from_utf8(b).ok(),
            Val::Pick(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_time(&self) -> Option<i64> {
        match self {
            Val::Time(t) => Some(*t),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }
}

/// One stored record.
#[derive(Clone, Debug)]
pub struct Rec {
    pub vals: Box<[Val]>,
    /// When the record went to the recycle bin (ms), for `/sobjects/{Type}/deleted`.
    pub deleted_at: Option<i64>,
}

impl Rec {
    pub fn id(&self) -> &str {
        self.vals[ID].as_str().unwrap_or_default()
    }
}

/// Orders two non-null values of a field of type `ty`: text case-insensitively (as SOQL
/// does), ids by their bytes, numbers and instants by value.
pub fn cmp_vals(a: &Val, b: &Val, ty: Ty) -> Ordering {
    match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Time(x), Val::Time(y)) => x.cmp(y),
        (Val::Date(x), Val::Date(y)) => x.cmp(y),
        (Val::Int(_) | Val::Num(_), Val::Int(_) | Val::Num(_)) => num(a).total_cmp(&num(b)),
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) if matches!(ty, Ty::Id | Ty::Ref) => x.cmp(y),
            (Some(x), Some(y)) => cmp_ci(x, y),
            _ => Ordering::Equal,
        },
    }
}

fn num(v: &Val) -> f64 {
    match v {
        Val::Int(i) => *i as f64,
        Val::Num(x) => *x,
        _ => 0.0,
    }
}

/// ASCII case-insensitive ordering, without allocating.
pub fn cmp_ci(a: &str, b: &str) -> Ordering {
    let x = a.bytes().map(|c| c.to_ascii_lowercase());
    let y = b.bytes().map(|c| c.to_ascii_lowercase());
    x.cmp(y)
}

// ---------------------------------------------------------------------------------------------
// Ids

const BASE36: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An 18-character Salesforce id: key prefix, two-character pod code, a reserved `0`, the
/// counter in nine base-36 digits, and the three-character case-safety suffix. Digits and
/// capitals only, so byte order, case-insensitive order and counter order all agree: ids
/// sort in creation order.
pub fn make_id(prefix: &str, pod: &str, counter: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut n = counter;
    for d in digits.iter_mut().rev() {
        *d = BASE36[(n % 36) as usize];
        n /= 36;
    }
    let mut id = String::with_capacity(18);
    id.push_str(prefix);
    id.push_str(pod);
    id.push('0');
    id.extend(digits.iter().map(|&b| b as char));
    let suffix = id_suffix(&id);
    id.push_str(&suffix);
    id
}

/// The case-safety suffix of a 15-character id.
pub fn id_suffix(id15: &str) -> String {
    let bytes = id15.as_bytes();
    (0..3)
        .map(|chunk| {
            let mut flags = 0usize;
            for bit in 0..5 {
                if bytes.get(chunk * 5 + bit).is_some_and(u8::is_ascii_uppercase) {
                    flags |= 1 << bit;
                }
            }
            SUFFIX[flags] as char
        })
        .collect()
}

/// A 15- or 18-character id literal as an 18-character id; `None` if it is not one.
pub fn normalize_id(s: &str) -> Option<String> {
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match s.len() {
        15 => Some(format!("{s}{}", id_suffix(s))),
        18 => Some(s.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Wire formats

/// `2024-01-01T00:00:00.000+0000`.
pub fn push_datetime(out: &mut String, ms: i64) {
    crate::time::push_ts(out, ms.div_euclid(1000));
    out.pop(); // the 'Z'
    let _ = write!(out, ".{:03}+0000", ms.rem_euclid(1000));
}

pub fn datetime(ms: i64) -> String {
    let mut s = String::with_capacity(28);
    push_datetime(&mut s, ms);
    s
}

/// `YYYY-MM-DD`.
pub fn date(days: i32) -> String {
    crate::time::date_only(days as i64 * 86_400)
}

pub fn push_val(out: &mut String, v: &Val) {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Num(x) => match serde_json::Number::from_f64(*x) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        },
        Val::Str(s) => push_json_str(out, s),
        Val::Id(_) => push_json_str(out, v.as_str().unwrap_or_default()),
        Val::Pick(s) => push_json_str(out, s),
        Val::Time(ms) => {
            out.push('"');
            push_datetime(out, *ms);
            out.push('"');
        }
        Val::Date(d) => {
            out.push('"');
            out.push_str(&date(*d));
            out.push('"');
        }
    }
}

/// Appends one record as the query API serves it: `attributes` first, then `fields` in
/// the given order.
pub fn push_record(out: &mut String, obj: Obj, rec: &Rec, fields: &[usize], version: &str) {
    out.push_str("{\"attributes\":{\"type\":\"");
    out.push_str(obj.name());
    out.push_str("\",\"url\":\"/services/data/");
    out.push_str(version);
    out.push_str("/sobjects/");
    out.push_str(obj.name());
    out.push('/');
    out.push_str(rec.id());
    out.push_str("\"}");
    let defs = obj.fields();
    for &i in fields {
        out.push_str(",\"");
        out.push_str(defs[i].name);
        out.push_str("\":");
        push_val(out, &rec.vals[i]);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_counter_order_and_carry_the_suffix() {
        let a = make_id("001", "5G", 35);
        let b = make_id("001", "5G", 36);
        let c = make_id("001", "5G", 1_000_000);
        assert_eq!(a.len(), 18);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(normalize_id(&a[..15]).as_deref(), Some(a.as_str()));
        // the known example: 001A0000006Vm9r -> 001A0000006Vm9rIAC
        assert_eq!(id_suffix("001A0000006Vm9r"), "IAC");
        assert_eq!(normalize_id("abc"), None);
        assert_eq!(normalize_id("001'000000000000"), None);
    }

    #[test]
    fn wire_formats() {
        assert_eq!(datetime(1_704_067_200_000), "2024-01-01T00:00:00.000+0000");
        assert_eq!(datetime(1_704_067_200_123), "2024-01-01T00:00:00.123+0000");
        assert_eq!(date(19_723), "2024-01-01");
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd");
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\"b\\c\nd");
    }
}
