//! The query parser: what it accepts, and every class of error it reports
//! (parameter, position, expectation).

use isogate_core::query::{
    Direction, Field, Filter, Limits, Op, Paging, Query, QueryError, SortKey,
};
use isogate_core::{ErrorKind, ItemKind};

fn parse(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
    Query::parse(pairs, &Limits::default())
}

fn err(pairs: &[(&str, &str)]) -> QueryError {
    match parse(pairs) {
        Ok(q) => panic!("{pairs:?} parsed: {q:?}"),
        Err(e) => e,
    }
}

/// Asserts param and position, and that the message mentions `expected`.
fn assert_err(pairs: &[(&str, &str)], param: &str, position: Option<usize>, expected: &str) {
    let e = err(pairs);
    assert_eq!(e.param, param, "{e}");
    assert_eq!(e.position, position, "{e}");
    assert!(
        e.expected.contains(expected),
        "{e} should expect {expected}"
    );
}

#[test]
fn defaults_when_nothing_is_given() {
    let q = parse(&[]).unwrap();
    assert!(
        q.filters.is_empty() && q.sort.is_empty() && q.providers.is_empty() && q.kinds.is_empty()
    );
    assert_eq!(q.per_page, 50);
    assert_eq!(q.paging, Paging::First);
    assert_eq!(
        (q.q, q.fields, q.refresh, q.raw),
        (None, None, false, false)
    );
}

#[test]
fn filter_splits_on_the_first_two_commas_and_on_semicolons() {
    let q = parse(&[
        ("filter", "description,eq,a, b,c;size_bytes,gt,10"),
        ("filter", "labels.family,in,ubuntu|debian"),
    ])
    .unwrap();
    assert_eq!(
        q.filters,
        vec![
            Filter {
                field: Field::Description,
                op: Op::Eq,
                raw: "a, b,c".into()
            },
            Filter {
                field: Field::SizeBytes,
                op: Op::Gt,
                raw: "10".into()
            },
            Filter {
                field: Field::Label("family".into()),
                op: Op::In,
                raw: "ubuntu|debian".into()
            },
        ]
    );
    // Empty segments (a trailing `;`) are skipped; an empty value is allowed for text.
    let q = parse(&[("filter", "name,eq,;;owner,ne,")]).unwrap();
    assert_eq!(q.filters.len(), 2);
    assert_eq!(q.filters[1].raw, "");
}

#[test]
fn values_are_typed_per_field() {
    for ok in [
        "size_bytes,ge,0",
        "arch_bits,in,32|64",
        "bootable,eq,true",
        "extractable,ne,false",
        "created_at,gt,2024-01-15T10:30:00Z",
        "created_at,lt,2017-11-17 13:51:31 EST",
        "updated_at,le,2024-01-15",
        "status,in,ready|failed",
        "kind,eq,image",
        "visibility,ne,public",
        "provider_kind,like,c%",
        "zones.name,like,%east%",
        "os.name,lt,M",
    ] {
        parse(&[("filter", ok)]).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn filter_without_three_parts() {
    assert_err(
        &[("filter", "name,eq")],
        "filter",
        Some(0),
        "field,op,value",
    );
    assert_err(
        &[("filter", "name,eq,x;status")],
        "filter",
        Some(10),
        "field,op,value",
    );
}

#[test]
fn filter_unknown_field() {
    assert_err(
        &[("filter", "size,gt,1")],
        "filter",
        Some(0),
        "labels.<key>",
    );
    assert_err(
        &[("filter", "name,eq,a;labels.,eq,x")],
        "filter",
        Some(10),
        "labels.<key>",
    );
}

#[test]
fn filter_unknown_operator_points_at_the_operator() {
    let e = err(&[("filter", "name,eqq,x")]);
    assert_eq!(
        e.to_string(),
        "filter: at 5: expected one of eq,ne,lt,le,gt,ge,like,in, found 'eqq'"
    );
}

#[test]
fn filter_like_on_a_non_text_field() {
    assert_err(
        &[("filter", "size_bytes,like,1%")],
        "filter",
        Some(11),
        "like is for text",
    );
    assert_err(
        &[("filter", "bootable,like,t%")],
        "filter",
        Some(9),
        "like is for text",
    );
    assert_err(
        &[("filter", "created_at,like,2024%")],
        "filter",
        Some(11),
        "like is for text",
    );
}

#[test]
fn filter_bad_values_point_at_the_value() {
    assert_err(
        &[("filter", "size_bytes,gt,ten")],
        "filter",
        Some(14),
        "unsigned integer",
    );
    assert_err(
        &[("filter", "arch_bits,eq,-64")],
        "filter",
        Some(13),
        "unsigned integer",
    );
    assert_err(
        &[("filter", "size_bytes,eq,99999999999999999999999")],
        "filter",
        Some(14),
        "unsigned integer",
    );
    assert_err(
        &[("filter", "bootable,eq,yes")],
        "filter",
        Some(12),
        "true or false",
    );
    assert_err(
        &[("filter", "created_at,ge,last tuesday")],
        "filter",
        Some(14),
        "timestamp",
    );
    assert_err(
        &[("filter", "status,eq,Ready")],
        "filter",
        Some(10),
        "ready,pending,processing,failed,unknown",
    );
    assert_err(
        &[("filter", "kind,ne,disk")],
        "filter",
        Some(8),
        "iso,image",
    );
    assert_err(
        &[("filter", "visibility,eq,shared")],
        "filter",
        Some(14),
        "public,private,unknown",
    );
    assert_err(
        &[("filter", "provider_kind,eq,aws")],
        "filter",
        Some(17),
        "cloudmc,vss,action,cox",
    );
}

#[test]
fn filter_in_list_points_at_the_bad_element() {
    assert_err(
        &[("filter", "status,in,ready|nope|failed")],
        "filter",
        Some(16),
        "ready",
    );
    assert_err(
        &[("filter", "arch_bits,in,32||64")],
        "filter",
        Some(16),
        "unsigned integer",
    );
}

#[test]
fn filter_count_is_limited() {
    let limits = Limits {
        max_filters: 2,
        ..Limits::default()
    };
    let e = Query::parse(
        &[("filter", "name,eq,a;name,eq,b"), ("filter", "name,eq,c")],
        &limits,
    )
    .unwrap_err();
    assert_eq!((e.param.as_str(), e.position), ("filter", Some(0)));
    assert!(e.expected.contains("at most 2"), "{e}");
    assert!(Query::parse(&[("filter", "name,eq,a;name,eq,b")], &limits).is_ok());
}

#[test]
fn sort_keys_and_directions() {
    let q = parse(&[("sort", "size_bytes,desc;name"), ("sort", "labels.tag,asc")]).unwrap();
    assert_eq!(
        q.sort,
        vec![
            SortKey {
                field: Field::SizeBytes,
                direction: Direction::Desc
            },
            SortKey {
                field: Field::Name,
                direction: Direction::Asc
            },
            SortKey {
                field: Field::Label("tag".into()),
                direction: Direction::Asc
            },
        ]
    );
}

#[test]
fn sort_errors() {
    assert_err(
        &[("sort", "name;sizes,desc")],
        "sort",
        Some(5),
        "labels.<key>",
    );
    assert_err(&[("sort", "name,up")], "sort", Some(5), "asc or desc");
    assert_err(
        &[("sort", "name;name,desc")],
        "sort",
        Some(5),
        "each sort field once",
    );
    let limits = Limits {
        max_sort_keys: 1,
        ..Limits::default()
    };
    let e = Query::parse(&[("sort", "name;id")], &limits).unwrap_err();
    assert_eq!((e.param.as_str(), e.position), ("sort", Some(5)));
}

#[test]
fn per_page_range_is_enforced_and_configurable() {
    assert_eq!(parse(&[("per_page", "1000")]).unwrap().per_page, 1000);
    assert_err(&[("per_page", "0")], "per_page", Some(0), "from 1 to 1000");
    assert_err(
        &[("per_page", "1001")],
        "per_page",
        Some(0),
        "from 1 to 1000",
    );
    assert_err(
        &[("per_page", "ten")],
        "per_page",
        Some(0),
        "from 1 to 1000",
    );
    assert_err(&[("per_page", "+5")], "per_page", Some(0), "from 1 to 1000");
    let limits = Limits {
        max_per_page: 100,
        ..Limits::default()
    };
    let e = Query::parse(&[("per_page", "101")], &limits).unwrap_err();
    assert!(e.expected.contains("from 1 to 100"), "{e}");
}

#[test]
fn page_and_cursor() {
    assert_eq!(parse(&[("page", "3")]).unwrap().paging, Paging::Page(3));
    assert_eq!(
        parse(&[("cursor", "abc")]).unwrap().paging,
        Paging::Cursor("abc".into())
    );
    assert_err(&[("page", "0")], "page", Some(0), "at least 1");
    assert_err(&[("page", "x")], "page", Some(0), "at least 1");
    assert_err(
        &[("page", "2"), ("cursor", "abc")],
        "page",
        None,
        "either page or cursor",
    );
}

#[test]
fn fields_are_checked_and_raw_implies_raw() {
    let q = parse(&[("fields", "name,size_bytes,name,os")]).unwrap();
    assert_eq!(
        q.fields,
        Some(vec!["name".into(), "size_bytes".into(), "os".into()])
    );
    assert!(!q.raw);
    assert!(parse(&[("fields", "name,raw")]).unwrap().raw);
    assert_err(
        &[("fields", "name,sizebytes")],
        "fields",
        Some(5),
        "size_bytes",
    );
    assert_err(&[("fields", "name,,id")], "fields", Some(5), "one of");
    assert_err(&[("fields", "os.name")], "fields", Some(0), "one of");
}

#[test]
fn provider_and_kind_lists() {
    let q = parse(&[
        ("provider", "a,b"),
        ("provider", "a"),
        ("kind", "image,iso,image"),
    ])
    .unwrap();
    assert_eq!(q.providers, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(q.kinds, vec![ItemKind::Image, ItemKind::Iso]);
    assert_err(&[("provider", "a,")], "provider", Some(2), "provider name");
    assert_err(&[("kind", "iso,disk")], "kind", Some(4), "iso,image");
}

#[test]
fn booleans() {
    let q = parse(&[("refresh", "true"), ("raw", "1")]).unwrap();
    assert!(q.refresh && q.raw);
    assert_err(&[("refresh", "yes")], "refresh", Some(0), "true or false");
    assert_err(&[("raw", "TRUE")], "raw", Some(0), "true or false");
}

#[test]
fn single_parameters_may_not_repeat() {
    for p in [
        "q", "per_page", "page", "cursor", "fields", "refresh", "raw",
    ] {
        let v = if p == "fields" { "name" } else { "1" };
        assert_err(&[(p, v), (p, v)], p, None, "at most once");
    }
}

#[test]
fn empty_values_mean_default_and_unknown_parameters_are_ignored() {
    let q = parse(&[
        ("q", ""),
        ("per_page", ""),
        ("filter", ""),
        ("fields", ""),
        ("utm_source", "x"),
    ])
    .unwrap();
    assert_eq!(
        (q.q, q.per_page, q.filters.len(), q.fields),
        (None, 50, 0, None)
    );
}

#[test]
fn query_strings_are_percent_decoded() {
    let q = Query::from_query_string("?filter=name,like,ubuntu%25&filter=description%2Ceq%2Ca+b%3Bkind%2Ceq%2Ciso&q=hello+world&&x").unwrap();
    assert_eq!(q.filters[0].raw, "ubuntu%");
    assert_eq!(q.filters[1].raw, "a b");
    assert_eq!(
        q.filters.len(),
        3,
        "the %3B-encoded `;` still separates: {:?}",
        q.filters
    );
    assert_eq!(q.q.as_deref(), Some("hello world"));
    let e = Query::from_query_string("q=%FF").unwrap_err();
    assert_eq!(e.param, "q");
}

#[test]
fn errors_convert_to_invalid_input_and_cut_long_echoes() {
    let long = format!("name,{},x", "z".repeat(500));
    let e = err(&[("filter", long.as_str())]);
    assert!(e.to_string().len() < 200, "{e}");
    let core: isogate_core::Error = e.into();
    assert_eq!(core.kind(), ErrorKind::InvalidInput);
    assert!(
        core.message()
            .starts_with("filter: at 5: expected one of eq"),
        "{core}"
    );
}
