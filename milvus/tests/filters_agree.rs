//! Milvus expressions decide every filter as `Filters::matches` does: the awkward records and
//! cases of the catalog's own agreement test (one list, included by path), loaded into a real
//! Milvus server (`scripts/services/milvus`, started by `scripts/test`), each case's expression
//! asked of the server.

use std::collections::HashSet;

use magpie_catalog::Filters;
use magpie_milvus::client::VectorType;
use magpie_milvus::expr::expression;
use magpie_milvus::{schema, Milvus, MilvusAddress, MilvusError};

#[path = "../../catalog/tests/cases/filters.rs"]
mod cases;
use cases::{records, CASES};

const DIM: usize = 8;

#[test]
fn milvus_expressions_and_plain_records_decide_alike() {
    let address = MilvusAddress::parse(&magpie_testkit::milvus_address()).unwrap();
    let milvus = Milvus::connect(&address).unwrap();
    let collection = format!("filters_agree_{}", std::process::id());
    milvus.drop_collection(&collection).unwrap();
    milvus
        .create_collection(&collection, DIM, VectorType::F32, Default::default())
        .unwrap();
    let records = records();
    let rows = records
        .iter()
        .map(|record| {
            let mut embedding = vec![0.0; DIM];
            embedding[record.id as usize % DIM] = 1.0;
            schema::row(record, &embedding, 0)
        })
        .collect();
    milvus.upsert(&collection, rows).unwrap();
    milvus.flush(&collection).unwrap();
    assert_eq!(milvus.count(&collection).unwrap(), records.len());

    let mut asked = 0;
    for (pairs, expected) in CASES {
        let mut filters = Filters::default();
        for pair in *pairs {
            filters.set_pair(pair).unwrap();
        }
        let expected: HashSet<u64> = expected.iter().copied().collect();
        match expression(&filters) {
            Ok(Some(expr)) => {
                let by_milvus: HashSet<u64> = milvus
                    .ids(&collection, &expr)
                    .unwrap()
                    .into_iter()
                    .collect();
                assert_eq!(by_milvus, expected, "Milvus, {pairs:?}: {expr}");
                asked += 1;
            }
            Ok(None) => assert_eq!(expected.len(), records.len(), "{pairs:?}: no condition"),
            // Image text is not in the shards: refused by name, never answered wrongly.
            Err(MilvusError::UnsupportedFilter { key, .. }) => {
                assert!(
                    pairs.iter().any(|p| p.starts_with(key)),
                    "{pairs:?} refused for {key}"
                );
            }
            Err(e) => panic!("{pairs:?}: {e}"),
        }
    }
    assert!(asked >= 20, "only {asked} cases reached Milvus");

    // A search filtered inside Milvus keeps to the filter.
    let mut portrait = Filters::default();
    portrait.set_pair("orientation=portrait").unwrap();
    let expr = expression(&portrait).unwrap().unwrap();
    let hits = milvus
        .search(&collection, &[1.0; DIM], 10, Some(&expr))
        .unwrap();
    let ids: HashSet<u64> = hits.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, HashSet::from([2, 5]));
    milvus.drop_collection(&collection).unwrap();
}

#[test]
fn an_unreachable_server_is_named() {
    let address = MilvusAddress::parse("http://127.0.0.1:9").unwrap();
    let started = std::time::Instant::now();
    let err = match Milvus::connect(&address) {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(
        matches!(err, MilvusError::Unreachable { .. }) && message.contains("http://127.0.0.1:9"),
        "{message}"
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
}
