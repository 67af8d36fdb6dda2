//! Filters: the narrowing every analytics route and entity list accepts, by name, turned
//! into the warehouse's conditions for one table.

use std::collections::BTreeMap;

use avesa_model::CanonicalTable;
use avesa_warehouse::aggregate::{Col, Cond};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::period::PeriodError;

/// A filter: its query parameter and what it compares, per table.
struct FilterDef {
    name: &'static str,
    description: &'static str,
    /// (table, the value it compares).
    on: &'static [(CanonicalTable, Col)],
}

use CanonicalTable::{Companies, Contacts, Members, Tickets, TimeEntries};

const VALUE_FILTERS: &[FilterDef] = &[
    FilterDef {
        name: "service",
        description: "source service (connectwise, servicenow, salesforce, microsoft365)",
        on: &[
            (Tickets, Col::Service),
            (TimeEntries, Col::Service),
            (Companies, Col::Service),
            (Contacts, Col::Service),
            (Members, Col::Service),
        ],
    },
    FilterDef {
        name: "board",
        description: "board or queue",
        on: &[(Tickets, Col::Column("board"))],
    },
    FilterDef {
        name: "status",
        description: "status",
        on: &[(Tickets, Col::Column("status")), (Companies, Col::Column("status"))],
    },
    FilterDef {
        name: "priority",
        description: "priority",
        on: &[(Tickets, Col::Column("priority"))],
    },
    FilterDef {
        name: "type",
        description: "ticket type",
        on: &[(Tickets, Col::Column("ticket_type")), (Companies, Col::Column("company_type"))],
    },
    FilterDef {
        name: "source",
        description: "how the ticket came in (phone, e-mail, portal …)",
        on: &[(Tickets, Col::Column("source"))],
    },
    FilterDef {
        name: "company",
        description: "company id (connectwise:250)",
        on: &[
            (Tickets, Col::Ref("company_id")),
            (TimeEntries, Col::Ref("company_id")),
            (Contacts, Col::Ref("company_id")),
            (Companies, Col::Id),
        ],
    },
    FilterDef {
        name: "contact",
        description: "contact id",
        on: &[(Tickets, Col::Ref("contact_id")), (Contacts, Col::Id)],
    },
    FilterDef {
        name: "member",
        description: "technician id: a ticket's owner, a time entry's member",
        on: &[
            (Tickets, Col::Ref("owner_id")),
            (TimeEntries, Col::Ref("member_id")),
            (Members, Col::Id),
        ],
    },
    FilterDef {
        name: "ticket",
        description: "ticket id",
        on: &[(TimeEntries, Col::Ref("ticket_id")), (Tickets, Col::Id)],
    },
    FilterDef {
        name: "billable",
        description: "billable option (Billable, DoNotBill, NoCharge, NoDefault)",
        on: &[(TimeEntries, Col::Column("billable_option"))],
    },
    FilterDef {
        name: "work_type",
        description: "work type",
        on: &[(TimeEntries, Col::Column("work_type"))],
    },
];

/// Date-range filters: `{name}_from` and `{name}_to` (a local date, `to` inclusive, or
/// an instant).
const DATE_FILTERS: &[(&str, CanonicalTable, &str)] = &[
    ("opened", Tickets, "opened_at"),
    ("closed", Tickets, "closed_at"),
    ("date", TimeEntries, "time_start"),
    ("updated", Tickets, "source_updated_at"),
];

/// `open=true` keeps tickets not closed, `open=false` closed ones.
/// Where a search also looks through a record's references: a ticket found by its
/// company's, contact's or owner's name, a time entry by its company's or member's name or
/// its ticket's summary, a contact by its company's name. (table, reference column, the
/// table it names.)
pub const SEARCH_THROUGH: &[(CanonicalTable, &str, CanonicalTable)] = &[
    (Tickets, "company_id", Companies),
    (Tickets, "contact_id", Contacts),
    (Tickets, "owner_id", Members),
    (TimeEntries, "company_id", Companies),
    (TimeEntries, "member_id", Members),
    (TimeEntries, "ticket_id", Tickets),
    (Contacts, "company_id", Companies),
];

/// The most records of a named table a search matches by their own text and passes on
/// to the records referring to them.
pub const MAX_NAME_MATCHES: u32 = 1000;

/// A search's matches in the tables records refer to: by table, the ids of the records
/// whose own text matches (see [`SEARCH_THROUGH`]).
pub type SearchMatches = BTreeMap<CanonicalTable, Vec<String>>;

/// The tables whose matches a search of `tables` needs.
pub fn named_by(tables: &[CanonicalTable]) -> Vec<CanonicalTable> {
    let mut out: Vec<CanonicalTable> = SEARCH_THROUGH
        .iter()
        .filter(|(t, _, _)| tables.contains(t))
        .map(|(_, _, named)| *named)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Finds, in each of `named`, the records whose own id or text contains `text` (at most
/// [`MAX_NAME_MATCHES`] each), as the data stood at `as_of`.
pub async fn resolve_search(
    wh: &dyn avesa_warehouse::Warehouse,
    tenant: &avesa_model::TenantId,
    text: &str,
    named: &[CanonicalTable],
    as_of: Option<chrono::NaiveDateTime>,
) -> Result<SearchMatches, avesa_warehouse::WarehouseError> {
    use avesa_warehouse::aggregate::{Agg, Aggregate, Dim, Measure, Top};
    let mut out = SearchMatches::new();
    for table in named {
        let mut a = Aggregate::new(*table);
        a.as_of = as_of;
        a.filter = vec![text_cond(text)];
        a.group = vec![Dim::Value(Col::Id)];
        a.measures = vec![Measure::new(Agg::Count)];
        a.top = Some(Top { measure: 0, descending: true, limit: MAX_NAME_MATCHES });
        let ids: Vec<String> = wh
            .aggregate(tenant, &a)
            .await?
            .into_iter()
            .filter_map(|r| match r.key.into_iter().next() {
                Some(avesa_warehouse::present::Cell::Text(id)) => Some(id),
                _ => None,
            })
            .collect();
        out.insert(*table, ids);
    }
    Ok(out)
}

/// Most words of a search that each must match (the rest are searched as one with the last).
pub const MAX_SEARCH_WORDS: usize = 8;

/// A record's own text matching a search: every word of it somewhere in the record's id
/// or text columns, so "Jane Smith" finds the contact whose first name is Jane and last
/// name Smith, and "printer contoso" a ticket whose summary and company both say so.
pub fn text_cond(text: &str) -> Cond {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut conds: Vec<Cond> =
        words.iter().take(MAX_SEARCH_WORDS - 1).map(|w| Cond::Search((*w).to_owned())).collect();
    if words.len() >= MAX_SEARCH_WORDS {
        conds.push(Cond::Search(words[MAX_SEARCH_WORDS - 1..].join(" ")));
    }
    match conds.len() {
        0 => Cond::Search(String::new()),
        1 => conds.remove(0),
        _ => Cond::All(conds),
    }
}

/// The condition of a search of `table` for `text`: its own id and text columns (every
/// word, [`text_cond`]), or a reference to a record `matches` found.
pub fn search_cond(table: CanonicalTable, text: &str, matches: &SearchMatches) -> Cond {
    let mut any = vec![text_cond(text)];
    for (t, col, named) in SEARCH_THROUGH {
        if *t == table
            && let Some(ids) = matches.get(named).filter(|ids| !ids.is_empty())
        {
            any.push(Cond::In(Col::Ref(col), ids.clone()));
        }
    }
    if any.len() == 1 { any.remove(0) } else { Cond::Any(any) }
}

const OPEN: &str = "open";
/// `open_at=<instant>` keeps the tickets that were open at that instant.
const OPEN_AT: &str = "open_at";
/// `missing=status,company` keeps the records without a status and without a company: the
/// "(none)" group of a breakdown, as a list.
const MISSING: &str = "missing";

/// The tickets open at `at` (microseconds), read from their dates: opened before it (or
/// without an opening date) and not closed, or closed at or after it. This holds for any
/// past instant from the current data alone, including instants before the first sync.
pub fn open_at(at: i64) -> Cond {
    open_at_some(at, at)
}

/// The tickets open at some instant of the instants from `first` to `last` (a backlog at several):
/// opened before the last (or without an opening date), and not closed, or closed at or
/// after the first. With `first == last`, [`open_at`].
pub fn open_at_some(first: i64, last: i64) -> Cond {
    Cond::All(vec![
        Cond::Any(vec![
            Cond::IsNull(Col::Column("opened_at")),
            Cond::Within { column: "opened_at", from: None, to: Some(last) },
        ]),
        Cond::Any(vec![
            Cond::negate(Cond::Is("closed", true)),
            Cond::Within { column: "closed_at", from: Some(first), to: None },
        ]),
    ])
}

/// Every filter parameter name, for documentation and the OpenAPI document.
pub fn names() -> Vec<String> {
    let mut out: Vec<String> = VALUE_FILTERS.iter().map(|f| f.name.to_owned()).collect();
    out.push(OPEN.to_owned());
    out.push(OPEN_AT.to_owned());
    out.push(MISSING.to_owned());
    for (n, _, _) in DATE_FILTERS {
        out.push(format!("{n}_from"));
        out.push(format!("{n}_to"));
    }
    out.dedup();
    out
}

/// The filter parameters that apply to `table`'s records.
pub fn names_for(table: CanonicalTable) -> Vec<String> {
    let mut out: Vec<String> = VALUE_FILTERS
        .iter()
        .filter(|f| f.on.iter().any(|(t, _)| *t == table))
        .map(|f| f.name.to_owned())
        .collect();
    if table == Tickets {
        out.push(OPEN.to_owned());
        out.push(OPEN_AT.to_owned());
    }
    if !out.is_empty() {
        out.push(MISSING.to_owned());
    }
    for (n, t, _) in DATE_FILTERS {
        if *t == table {
            out.push(format!("{n}_from"));
            out.push(format!("{n}_to"));
        }
    }
    out
}

/// A filter parameter's description.
pub fn describe(name: &str) -> Option<String> {
    if name == OPEN {
        return Some("true: tickets not closed; false: closed tickets".into());
    }
    if name == MISSING {
        return Some("records without a value for these filters (status, company …; several separated by commas): a breakdown's \"(none)\" group".into());
    }
    if name == OPEN_AT {
        return Some("tickets that were open at this instant (RFC 3339): opened before it, closed after it or not at all".into());
    }
    if let Some(f) = VALUE_FILTERS.iter().find(|f| f.name == name) {
        return Some(format!("{}; several separated by commas", f.description));
    }
    let (base, end) = name.rsplit_once('_')?;
    DATE_FILTERS.iter().find(|(n, _, _)| *n == base).map(|(_, t, c)| {
        format!(
            "{t}.{c} {} (a local date, inclusive, or an instant)",
            if end == "from" { "from" } else { "up to" }
        )
    })
}

/// Query parameters as (name, value) pairs.
pub type Params<'a> = Vec<(&'a str, &'a str)>;

/// The filters of one request, by parameter name; values as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    values: BTreeMap<String, Vec<String>>,
    dates: BTreeMap<String, String>,
    open: Option<bool>,
    open_at: Option<String>,
    /// Value filters whose value the records must lack (`missing`).
    missing: std::collections::BTreeSet<String>,
    search: Option<String>,
    /// The search's matches in the tables records refer to, once resolved.
    matches: SearchMatches,
}

impl Filters {
    /// Reads filter parameters out of a query's parameters (others are left to the
    /// caller); an unknown `*_from`/`*_to` or an empty value is a client error.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Filters, Params<'a>), PeriodError> {
        let mut f = Filters::default();
        let mut rest = Vec::new();
        for (k, v) in params {
            if k == OPEN {
                f.open = Some(match v.trim() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(PeriodError(format!(
                            "open: expected true or false, got {other:?}"
                        )));
                    }
                });
            } else if k == OPEN_AT {
                f.open_at = Some(v.to_owned());
            } else if k == MISSING {
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !VALUE_FILTERS.iter().any(|d| d.name == name) {
                        let known: Vec<&str> = VALUE_FILTERS.iter().map(|d| d.name).collect();
                        return Err(PeriodError(format!(
                            "missing: {name:?} is not a filter ({})",
                            known.join(", ")
                        )));
                    }
                    f.missing.insert(name.to_owned());
                }
                if f.missing.is_empty() {
                    return Err(PeriodError(format!("{MISSING}: name at least one filter")));
                }
            } else if k == "q" {
                f.search = Some(v.to_owned()).filter(|s| !s.trim().is_empty());
            } else if VALUE_FILTERS.iter().any(|d| d.name == k) {
                let values: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if values.is_empty() {
                    return Err(PeriodError(format!("{k}: give at least one value")));
                }
                f.values.entry(k.to_owned()).or_default().extend(values);
            } else if DATE_FILTERS
                .iter()
                .any(|(n, _, _)| k == format!("{n}_from") || k == format!("{n}_to"))
            {
                f.dates.insert(k.to_owned(), v.to_owned());
            } else {
                rest.push((k, v));
            }
        }
        Ok((f, rest))
    }

    /// The search text, if any.
    pub fn search(&self) -> Option<&str> {
        self.search.as_deref()
    }

    /// The search's matches in referenced tables ([`resolve_search`]), for
    /// [`Filters::conds`].
    pub fn with_matches(mut self, matches: SearchMatches) -> Self {
        self.matches = matches;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.dates.is_empty()
            && self.open.is_none()
            && self.open_at.is_none()
            && self.search.is_none()
    }

    /// Narrows a value filter to one value (a drill-down into one group).
    pub fn with(mut self, name: &str, value: String) -> Self {
        self.missing.remove(name);
        self.values.insert(name.to_owned(), vec![value]);
        self
    }

    /// Sets a date range filter (`{name}_from`, `{name}_to`) to instants.
    pub fn with_range(mut self, name: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.dates.insert(format!("{name}_from"), text(from));
        self.dates.insert(format!("{name}_to"), text(to));
        self
    }

    /// Keeps the records without a value for the filter `name` (a drill-down into a
    /// breakdown's "(none)" group).
    pub fn with_missing(mut self, name: &str) -> Self {
        self.values.remove(name);
        self.missing.insert(name.to_owned());
        self
    }

    /// Sets the bounds of a date range filter to instants kept to the microsecond (`from`
    /// inclusive, `to` exclusive; `None` leaves that side open): a drill into one ageing
    /// bucket selects exactly the tickets the bucket counted.
    pub fn with_bounds(
        mut self,
        name: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Self {
        for (end, at) in [("from", from), ("to", to)] {
            match at {
                Some(at) => {
                    self.dates.insert(format!("{name}_{end}"), exact(at));
                }
                None => {
                    self.dates.remove(&format!("{name}_{end}"));
                }
            }
        }
        self
    }

    /// Keeps the tickets open at an instant (to the microsecond).
    pub fn with_open_at(mut self, at: DateTime<Utc>) -> Self {
        self.open_at = Some(exact(at));
        self
    }

    /// Keeps open (or closed) tickets only.
    pub fn with_open(mut self, open: bool) -> Self {
        self.open = Some(open);
        self
    }

    /// The filters as query parameters (for a drill-down link).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            self.values.iter().map(|(k, v)| (k.clone(), v.join(","))).collect();
        out.extend(self.dates.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(o) = self.open {
            out.push((OPEN.into(), o.to_string()));
        }
        if let Some(a) = &self.open_at {
            out.push((OPEN_AT.into(), a.clone()));
        }
        if !self.missing.is_empty() {
            out.push((MISSING.into(), self.missing.iter().cloned().collect::<Vec<_>>().join(",")));
        }
        if let Some(q) = &self.search {
            out.push(("q".into(), q.clone()));
        }
        out
    }

    /// The conditions for `table`, and the names of the filters that do not apply to it.
    pub fn conds(
        &self,
        table: CanonicalTable,
        tz: Tz,
    ) -> Result<(Vec<Cond>, Vec<String>), PeriodError> {
        let mut conds = Vec::new();
        let mut ignored = Vec::new();
        for (name, values) in &self.values {
            let def = VALUE_FILTERS.iter().find(|d| d.name == name).expect("parsed as a filter");
            match def.on.iter().find(|(t, _)| *t == table) {
                Some((_, col)) => conds.push(Cond::In(*col, values.clone())),
                None => ignored.push(name.clone()),
            }
        }
        for name in &self.missing {
            let def = VALUE_FILTERS.iter().find(|d| d.name == name).expect("parsed as a filter");
            match def.on.iter().find(|(t, _)| *t == table) {
                Some((_, col)) => conds.push(Cond::IsNull(*col)),
                None => ignored.push(format!("{MISSING}={name}")),
            }
        }
        let mut ranges: BTreeMap<&str, (Option<i64>, Option<i64>)> = BTreeMap::new();
        for (key, v) in &self.dates {
            let (base, end) = key.rsplit_once('_').expect("a *_from or *_to key");
            match DATE_FILTERS.iter().find(|(n, t, _)| *n == base && *t == table) {
                Some((_, _, column)) => {
                    let at = crate::period::bound(key, v, tz, end == "to")?.0.timestamp_micros();
                    let r = ranges.entry(column).or_default();
                    if end == "from" { r.0 = Some(at) } else { r.1 = Some(at) }
                }
                None => ignored.push(key.clone()),
            }
        }
        for (column, (from, to)) in ranges {
            let column =
                DATE_FILTERS.iter().find(|(_, _, c)| *c == column).expect("a date column").2;
            conds.push(Cond::Within { column, from, to });
        }
        if let Some(open) = self.open {
            if table == Tickets {
                let closed = Cond::Is("closed", true);
                conds.push(if open { Cond::negate(closed) } else { closed });
            } else {
                ignored.push(OPEN.to_owned());
            }
        }
        if let Some(at) = &self.open_at {
            if table == Tickets {
                let at = DateTime::parse_from_rfc3339(at.trim()).map_err(|_| {
                    PeriodError(format!("open_at: {at:?} is not an instant (2026-11-01T08:00:00Z)"))
                })?;
                conds.push(open_at(at.timestamp_micros()));
            } else {
                ignored.push(OPEN_AT.to_owned());
            }
        }
        if let Some(q) = &self.search {
            conds.push(search_cond(table, q, &self.matches));
        }
        Ok((conds, ignored))
    }
}

/// An instant as RFC 3339, with its fraction of a second when it has one.
fn exact(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keeps_the_records_without_a_value() {
        let (f, rest) = Filters::from_params([("missing", "status,company"), ("x", "1")]).unwrap();
        assert_eq!(rest, vec![("x", "1")]);
        let (conds, ignored) = f.conds(Tickets, Tz::UTC).unwrap();
        assert!(conds.contains(&Cond::IsNull(Col::Column("status"))), "{conds:?}");
        assert!(conds.contains(&Cond::IsNull(Col::Ref("company_id"))), "{conds:?}");
        assert!(ignored.is_empty());
        let (_, ignored) = f.conds(TimeEntries, Tz::UTC).unwrap();
        assert_eq!(ignored, vec!["missing=status".to_owned()]);
        assert_eq!(f.params(), vec![("missing".to_owned(), "company,status".to_owned())]);
        assert!(
            Filters::from_params([("missing", "colour")]).unwrap_err().0.contains("not a filter")
        );
        assert!(Filters::from_params([("missing", " , ")]).is_err());
        let f = Filters::default().with("status", "New".into()).with_missing("status");
        assert_eq!(f.params(), vec![("missing".to_owned(), "status".to_owned())]);
    }

    #[test]
    fn a_search_of_several_words_wants_each_of_them() {
        assert_eq!(text_cond(" printer "), Cond::Search("printer".into()));
        assert_eq!(
            text_cond("Jane  Smith"),
            Cond::All(vec![Cond::Search("Jane".into()), Cond::Search("Smith".into())])
        );
        let many = text_cond("a b c d e f g h i j");
        let Cond::All(parts) = many else { panic!("{many:?}") };
        assert_eq!(parts.len(), MAX_SEARCH_WORDS);
        assert_eq!(parts[MAX_SEARCH_WORDS - 1], Cond::Search("h i j".into()));
    }

    #[test]
    fn filters_become_conditions_of_the_tables_they_apply_to() {
        let (f, rest) = Filters::from_params([
            ("board", "Help Desk, Projects"),
            ("billable", "Billable"),
            ("opened_from", "2026-11-01"),
            ("page", "2"),
        ])
        .unwrap();
        assert_eq!(rest, vec![("page", "2")]);
        let (conds, ignored) = f.conds(Tickets, Tz::UTC).unwrap();
        assert_eq!(ignored, vec!["billable".to_owned()]);
        assert_eq!(
            conds[0],
            Cond::In(Col::Column("board"), vec!["Help Desk".into(), "Projects".into()])
        );
        assert!(matches!(conds[1], Cond::Within { column: "opened_at", from: Some(_), to: None }));
        let (conds, ignored) = f.conds(TimeEntries, Tz::UTC).unwrap();
        assert_eq!(conds, vec![Cond::In(Col::Column("billable_option"), vec!["Billable".into()])]);
        assert_eq!(ignored, vec!["board".to_owned(), "opened_from".to_owned()]);
        assert!(Filters::from_params([("status", " , ")]).is_err());
        let (f, _) = Filters::from_params([("closed_to", "soon")]).unwrap();
        assert!(f.conds(Tickets, Tz::UTC).unwrap_err().0.starts_with("closed_to"));
    }

    #[test]
    fn a_search_reaches_through_the_references_it_was_resolved_for() {
        let (f, _) = Filters::from_params([("q", "contoso")]).unwrap();
        assert_eq!(f.search(), Some("contoso"));
        // Unresolved, or nothing named matches: the record's own text only.
        let (conds, _) = f.conds(Tickets, Tz::UTC).unwrap();
        assert_eq!(conds, vec![Cond::Search("contoso".into())]);
        let matches =
            SearchMatches::from([(Companies, vec!["connectwise:7".to_owned()]), (Members, vec![])]);
        assert_eq!(named_by(&[Tickets]), vec![Companies, Contacts, Members]);
        assert_eq!(named_by(&[Companies]), Vec::<CanonicalTable>::new());
        let f = f.with_matches(matches);
        let (conds, _) = f.conds(Tickets, Tz::UTC).unwrap();
        assert_eq!(
            conds,
            vec![Cond::Any(vec![
                Cond::Search("contoso".into()),
                Cond::In(Col::Ref("company_id"), vec!["connectwise:7".into()]),
            ])]
        );
        let (conds, _) = f.conds(Companies, Tz::UTC).unwrap();
        assert_eq!(conds, vec![Cond::Search("contoso".into())], "companies refer to nothing");
    }
}
