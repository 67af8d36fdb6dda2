use super::*;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use avesa_model::CanonicalTable;

fn mapping(table: CanonicalTable) -> Mapping {
    builtin_mappings().into_iter().find(|m| m.canonical_table == table).unwrap()
}

fn raw(id: &str, json: serde_json::Value) -> RawRecord {
    RawRecord::new(id, Some(Utc::now()), false, json.to_string())
}

#[test]
fn builtin_mappings_load_and_cover_every_table() {
    let ms = builtin_mappings();
    for t in CanonicalTable::ALL {
        assert!(ms.iter().any(|m| m.canonical_table == t), "{t} has no mapping");
    }
}

#[test]
fn contacts_map_nested_arrays_and_negation() {
    let m = mapping(CanonicalTable::Contacts);
    let rec = raw(
        "7",
        serde_json::json!({"id": 7, "firstName": "Ann", "lastName": "Lee", "inactiveFlag": false,
            "company": {"id": 12, "name": "X"},
            "communicationItems": [
                {"type": {"id": 1, "name": "Direct"}, "value": "555-1", "communicationType": "Phone"},
                {"type": {"id": 2, "name": "Email"}, "value": "ann@x.com", "communicationType": "Email"}]}),
    );
    let t = TenantId::new("acme").unwrap();
    let b = m.apply(&t, ChunkId::new(), Utc::now(), &[rec]).unwrap();
    let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
    assert_eq!(col("email").as_string::<i32>().value(0), "ann@x.com");
    assert_eq!(col("phone").as_string::<i32>().value(0), "555-1");
    assert_eq!(col("company_id").as_string::<i32>().value(0), "12");
    assert!(col("active").as_boolean().value(0));
    assert!(col("title").is_null(0));
}

#[test]
fn tickets_convert_types_and_hash_only_business_columns() {
    let m = mapping(CanonicalTable::Tickets);
    let doc = serde_json::json!({"id": 1, "summary": "Printer", "closedFlag": true,
        "actualHours": 1.5, "closedDate": "2024-02-03T04:05:06Z",
        "_info": {"dateEntered": "2024-02-01T00:00:00Z", "lastUpdated": "2024-02-03T04:05:06Z"}});
    let t = TenantId::new("acme").unwrap();
    let a = m.apply(&t, ChunkId::new(), Utc::now(), &[raw("1", doc.clone())]).unwrap();
    // Another extraction, another chunk, a changed unmapped field: the same hash.
    let mut doc2 = doc.clone();
    doc2["_info"]["updatedBy"] = "someone".into();
    let b = m.apply(&t, ChunkId::new(), Utc::now(), &[raw("1", doc2)]).unwrap();
    let hash = |x: &RecordBatch| {
        x.column(x.schema().index_of("record_hash").unwrap()).as_string::<i32>().value(0).to_owned()
    };
    assert_eq!(hash(&a), hash(&b));
    let mut doc3 = doc;
    doc3["summary"] = "Scanner".into();
    let c = m.apply(&t, ChunkId::new(), Utc::now(), &[raw("1", doc3)]).unwrap();
    assert_ne!(hash(&a), hash(&c));
    let hours =
        a.column(a.schema().index_of("actual_hours").unwrap()).as_primitive::<Float64Type>();
    assert_eq!(hours.value(0), 1.5);
    let closed_at = a
        .column(a.schema().index_of("closed_at").unwrap())
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        closed_at.value(0),
        parse_timestamp("2024-02-03T04:05:06Z").unwrap().and_utc().timestamp_micros()
    );
}

#[test]
fn bad_values_name_record_column_and_path() {
    let m = mapping(CanonicalTable::Companies);
    let doc = serde_json::json!({"id": 3, "numberOfEmployees": "lots"});
    let t = TenantId::new("acme").unwrap();
    let e = m.apply(&t, ChunkId::new(), Utc::now(), &[raw("3", doc)]).unwrap_err();
    assert_eq!(e.source_id, "3");
    assert_eq!(e.column, "employee_count");
    assert!(e.to_string().contains("numberOfEmployees"), "{e}");
    let ok = m
        .apply(
            &t,
            ChunkId::new(),
            Utc::now(),
            &[raw("4", serde_json::json!({"numberOfEmployees": 12}))],
        )
        .unwrap();
    let n = ok.column(ok.schema().index_of("employee_count").unwrap()).as_primitive::<Int64Type>();
    assert_eq!(n.value(0), 12);
}

#[test]
fn malformed_mapping_files_report_file_line_and_reason() {
    let e = Mapping::parse("m.toml", "service = \"x\"\nsource_table = \"t\"\ncanonical_table = \"tickets\"\n[columns]\nsumary = \"summary\"\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("m.toml", 5));
    assert!(e.reason.contains("unknown column \"sumary\""), "{}", e.reason);

    let e = Mapping::parse(
        "m.toml",
        "service = \"x\"\nsource_table = \"t\"\ncanonical_table = \"tix\"\n[columns]\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("unknown canonical table"), "{}", e.reason);

    let e = Mapping::parse("m.toml", "service = \"x\"\nsource_table = \"t\"\ncanonical_table = \"tickets\"\n[columns]\nsummary = \"a[\"\n").unwrap_err();
    assert_eq!(e.line, 5);
    assert!(e.reason.contains("unclosed"), "{}", e.reason);

    let e = Mapping::parse("m.toml", "service = \"x\"\nsource_table = [\n").unwrap_err();
    assert_eq!(e.file, "m.toml");
    assert!(e.line >= 2, "syntax error line {}", e.line);
}

#[test]
fn timestamps_in_vendor_forms() {
    let want = parse_timestamp("2024-01-02T03:04:05Z").unwrap();
    assert_eq!(parse_timestamp("2024-01-02T03:04:05.000+0000"), Some(want));
    assert_eq!(parse_timestamp("2024-01-02 03:04:05"), Some(want));
    assert_eq!(parse_timestamp("2024-01-02T05:04:05+02:00"), Some(want));
    assert!(parse_timestamp("2024-01-02").is_some());
    assert!(parse_timestamp("yesterday").is_none());
}

#[test]
fn every_service_maps_strings_divisions_and_concatenations() {
    let ms = builtin_mappings();
    let find = |svc: &str, src: &str| {
        ms.iter().find(|m| m.service == svc && m.source_table == src).unwrap()
    };
    let t = TenantId::new("acme").unwrap();
    let col = |b: &arrow::record_batch::RecordBatch, n: &str| {
        b.column(b.schema().index_of(n).unwrap()).clone()
    };

    // ServiceNow: strings everywhere, durations in seconds become hours, choice maps.
    let tw = find("servicenow", "task_time_worked");
    let rec = raw(
        "ab12",
        serde_json::json!({"sys_id": "ab12", "time_in_seconds": "5400",
        "task": {"link": "x", "value": "inc1"}, "user": "", "work_date": "2024-03-01"}),
    );
    let b = tw.apply(&t, ChunkId::new(), Utc::now(), &[rec]).unwrap();
    let hours = col(&b, "actual_hours");
    let hours = hours.as_any().downcast_ref::<arrow::array::Float64Array>().unwrap();
    assert_eq!(hours.value(0), 1.5);
    let inc = find("servicenow", "incident");
    let rec = raw(
        "i1",
        serde_json::json!({"sys_id": "i1", "state": "7", "active": "false",
        "opened_at": "2024-03-01 10:00:00", "closed_at": "", "company": ""}),
    );
    let b = inc.apply(&t, ChunkId::new(), Utc::now(), &[rec]).unwrap();
    let status = col(&b, "status");
    let status = status.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    assert_eq!(status.value(0), "Closed");
    let closed = col(&b, "closed");
    assert!(closed.as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().value(0));
    assert!(col(&b, "closed_at").is_null(0), "an empty ServiceNow date is null");

    // ConnectWise members: a full name from two fields.
    let m = find("connectwise", "system/members");
    let rec = raw(
        "5",
        serde_json::json!({"id": 5, "firstName": "Ann", "lastName": "Lee", "inactiveFlag": false}),
    );
    let b = m.apply(&t, ChunkId::new(), Utc::now(), &[rec]).unwrap();
    let name = col(&b, "name");
    assert_eq!(
        name.as_any().downcast_ref::<arrow::array::StringArray>().unwrap().value(0),
        "Ann Lee"
    );
}

#[test]
fn divide_and_concat_are_checked_at_load() {
    let src = "service = \"s\"\nsource_table = \"t\"\ncanonical_table = \"members\"\n\n[columns]\nname = { path = \"a\", divide = 2.0 }\n";
    let e = Mapping::parse("m.toml", src).unwrap_err();
    assert_eq!(e.line, 6);
    assert!(e.reason.contains("divide needs a float column"), "{e}");
    let src = "service = \"s\"\nsource_table = \"t\"\ncanonical_table = \"members\"\n\n[columns]\nactive = { path = \"a\", concat = [\"b\"] }\n";
    let e = Mapping::parse("m.toml", src).unwrap_err();
    assert!(e.reason.contains("concat applies only to text"), "{e}");
}
