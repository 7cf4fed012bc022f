//! Tables: opened by name and types, with a typed error for a missing one or
//! other types, and rows of any size.

mod common;

use common::{Cast, bounded, supervised, value};
use peeper::TableError;

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let (sup, h) = supervised("tables-missing").await;
    assert!(matches!(
        h.table::<u64, String>("nope"),
        Err(TableError::NotFound { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn a_table_opened_with_other_types_is_wrong_type() {
    let (sup, h) = supervised("tables-types").await;
    h.cast(Cast::Rows("t", vec![(1, "x".into())])).unwrap();
    value(&h).await;
    assert!(matches!(
        h.table::<String, u64>("t"),
        Err(TableError::WrongType { .. })
    ));
    assert_eq!(h.table::<u64, String>("t").unwrap().len(), 1);
    sup.stop().await;
}

#[tokio::test]
async fn a_huge_cast_is_handled_and_its_row_kept_whole() {
    let (sup, h) = supervised("tables-huge").await;
    let rows = vec![(7_u64, "x".repeat(64 << 20))];
    h.cast(Cast::Rows("big", rows)).unwrap();
    assert_eq!(bounded(value(&h)).await, 0);
    let len = h.table::<u64, String>("big").unwrap().with(&7, String::len);
    assert_eq!(len, Some(64 << 20));
    sup.stop().await;
}
