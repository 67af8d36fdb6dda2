use super::*;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use avesa_model::CanonicalTable;

fn mapping(table: CanonicalTable) -> Mapping {
    builtin_mappings().into_iter().find(|m| m.canonical_table == table).unwrap()
}

fn raw(id: &str, json: serde_json::Value) -> RawRecord {
    RawRecord {
        source_id: id.into(),
        updated_at: Some(Utc::now()),
        deleted: false,
        json: json.to_string(),
    }
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
